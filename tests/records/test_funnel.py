"""The call funnel and per-turn latency on /metrics, counted from accepted worker reports."""

from __future__ import annotations

from tests.records.helpers import finish, report
from tests.telephony.factories import create_call


def _value(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


NAMES = [
    'nova_call_funnel_total{stage="connected"}',
    'nova_call_funnel_total{stage="ended"}',
    'nova_call_funnel_total{stage="goal_completed"}',
    'nova_call_funnel_total{stage="transcribed"}',
    'nova_call_outcomes_total{outcome="meeting_booked"}',
    'nova_call_turn_latency_seconds_count{kind="llm_ttft"}',
    'nova_call_turn_latency_seconds_bucket{kind="e2e",le="1.0"}',
]


async def scrape(client) -> list[float]:
    text = (await client.get("/metrics")).text
    return [_value(text, n) for n in NAMES]


async def test_funnel_and_latency_counters(client, clock, user):
    before = await scrape(client)
    call = await create_call(user_id=user["user"]["id"], status="pending")
    await report(client, clock, call.id, "started")
    await finish(client, clock, call.id, outcome="meeting_booked")
    after = await scrape(client)
    # connected, ended, goal completed, transcribed, one outcome, 3 LLM samples, 1 e2e ≤ 1 s
    assert [a - b for a, b in zip(after, before, strict=True)] == [1, 1, 1, 1, 1, 3, 1]
