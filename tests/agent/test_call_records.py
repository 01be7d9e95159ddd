"""The worker's call records: the transcript carries turn offsets and interruptions, and a
``metrics`` report carries livekit-agents' per-turn latency to the control plane."""

from __future__ import annotations

import asyncio

import pytest
from livekit import api
from livekit.agents import llm as lk_llm

from nova.agent.metrics import latency_of, transcript_of
from nova.agent.scripted import ScriptedLLM, call
from nova.core.db import session_scope
from nova.models.records import CallMetrics
from tests.agent.test_worker_job import Job
from tests.telephony.factories import create_call, get_call, meta_for


@pytest.fixture
async def job(app, settings, livekit):
    lkapi = api.LiveKitAPI(url=livekit.url, api_key=livekit.api_key, api_secret=livekit.api_secret)
    j = Job(app, settings, lkapi)
    yield j
    await j.close()
    await lkapi.aclose()


async def test_a_finished_call_reports_its_latency_and_a_transcript_with_offsets(job, clock):
    row = await create_call(goal="qualify_interest", status="in_progress")
    llm = ScriptedLLM(["What is your budget?", "Thanks, goodbye!", call("end_call", reason="done")])
    runner = await job.start(meta_for(row), llm)
    await runner.greeting
    await runner.started_task
    await runner.session.run(user_input="Hello")
    await runner.session.run(user_input="About a million")
    await runner.session.run(user_input="Bye")
    await asyncio.wait_for(runner.ended.wait(), 5)

    done = await get_call(row.id)
    starts = [t["start"] for t in done.transcript]
    assert [t["role"] for t in done.transcript] == ["agent", "user"] * 3
    assert starts[0] == 0.0 and starts == sorted(starts)
    async with session_scope() as s:
        m = await s.get(CallMetrics, row.id)
    # Text mode has no audio: only the model's time to first token is measured, once per
    # reply the model wrote (the greeting is spoken without it).
    assert len(m.samples["llm_ttft_ms"]) == 2 and all(v >= 0 for v in m.samples["llm_ttft_ms"])
    assert m.samples["tts_ttfb_ms"] == [] and m.turns == 6 and m.interruptions == 0
    assert m.summary["llm_ttft_ms"]["n"] == 2


class History:
    """An AgentSession's history as the metrics module reads it (a real ChatContext)."""

    def __init__(self, items) -> None:
        self.history = lk_llm.ChatContext(items)


def msg(role, text, *, at, interrupted=False, **metrics):
    return lk_llm.ChatMessage(
        role=role, content=[text], interrupted=interrupted, created_at=at, metrics=metrics
    )


def test_turn_offsets_interruptions_and_latency_come_from_the_history():
    t0 = 1_800_000_000.0
    session = History(
        [
            msg(
                "assistant",
                "Hi, this is Nova.",
                at=t0,
                started_speaking_at=t0,
                stopped_speaking_at=t0 + 2.5,
                tts_node_ttfb=0.21,
            ),
            msg(
                "user",
                "Who?",
                at=t0 + 3.0,
                started_speaking_at=t0 + 3.0,
                stopped_speaking_at=t0 + 3.6,
                end_of_turn_delay=0.45,
            ),
            msg(
                "assistant",
                "Nova, from Acme. We build",
                at=t0 + 4.4,
                interrupted=True,
                started_speaking_at=t0 + 4.4,
                stopped_speaking_at=t0 + 5.1,
                llm_node_ttft=0.32,
                tts_node_ttfb=0.18,
                e2e_latency=0.8,
            ),
            msg(
                "user",
                "Not interested.",
                at=t0 + 5.0,
                started_speaking_at=t0 + 5.0,
                stopped_speaking_at=t0 + 6.0,
                end_of_turn_delay=0.6,
            ),
            msg("assistant", "   ", at=t0 + 7.0),  # nothing said: no turn
        ]
    )
    turns = transcript_of(session)
    assert [(t["role"], t["start"], t.get("end"), t.get("interrupted", False)) for t in turns] == [
        ("agent", 0.0, 2.5, False),
        ("user", 3.0, 3.6, False),
        ("agent", 4.4, 5.1, True),
        ("user", 5.0, 6.0, False),
    ]
    report = latency_of(session)
    assert report["samples"] == {
        "eou_delay_ms": [450.0, 600.0],
        "llm_ttft_ms": [320.0],
        "tts_ttfb_ms": [210.0, 180.0],
        "e2e_ms": [800.0],
    }
    assert report["interruptions"] == 1 and report["turns"] == 5
