"""Shared steps of the call-records tests: calls owned by an account, and the signed
worker reports that fill them (through the real internal endpoint)."""

from __future__ import annotations

from typing import Any

from nova.telephony import worker_protocol as wp

SECRET = "test-worker-secret-0123456789abcdef"

TRANSCRIPT = [
    {"role": "agent", "text": "Hi Sam, this is Nova.", "at": "2026-06-12T08:30:01Z",
     "start": 0.0, "end": 2.4},
    {"role": "user", "text": "Hi, who?", "at": "2026-06-12T08:30:04Z", "start": 3.1, "end": 3.9},
    {"role": "agent", "text": "Nova from Acme, about the Marina", "interrupted": True,
     "start": 4.6, "end": 6.0},
    {"role": "user", "text": "My budget is about 1.2 million, I decide with my wife.",
     "start": 5.8, "end": 9.5},
]  # fmt: skip

METRICS = {
    "samples": {
        "eou_delay_ms": [420.0, 610.0],
        "llm_ttft_ms": [310.0, 290.0, 350.0],
        "tts_ttfb_ms": [180.0, 220.0],
        "e2e_ms": [1100.0, 980.0],
    },
    "interruptions": 1,
    "turns": 4,
}


async def report(client, clock, call_id: str, kind: str, data: dict[str, Any] | None = None):
    body = wp.encode(wp.new_report(call_id, kind, data))  # type: ignore[arg-type]
    headers = wp.sign(SECRET, body, int(clock.now().timestamp()))
    r = await client.post(f"/internal/worker/{call_id}/events", content=body, headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def finish(
    client, clock, call_id: str, *, outcome="qualified", duration=90, metrics=METRICS, **ended
):
    """What a worker reports at the end of a call: transcript, metrics, ended."""
    await report(client, clock, call_id, "transcript", {"transcript": TRANSCRIPT})
    await report(client, clock, call_id, "metrics", metrics)
    await report(
        client,
        clock,
        call_id,
        "ended",
        {"outcome": outcome, "duration_seconds": duration, "goal_completed": True, **ended},
    )
