"""call.transcribed → queued judge → score persisted → call.scored, with retries."""

from __future__ import annotations

import json

from sqlalchemy import select

from nova.core.db import session_scope
from nova.models.events import Event, Task
from nova.models.quality import CallScore
from nova.quality import plugin, service
from nova.quality.judge import NOT_CONFIGURED
from tests.conftest import register
from tests.fakes.openai_server import chat_response
from tests.quality.helpers import judgement, make_call, transcribed


async def _row(call_id: str) -> CallScore:
    async with session_scope() as s:
        return (await s.execute(select(CallScore).where(CallScore.call_id == call_id))).scalar_one()


async def _events(type_: str) -> list[Event]:
    async with session_scope() as s:
        return list((await s.execute(select(Event).where(Event.type == type_))).scalars())


async def test_transcribed_call_is_scored_and_announced(client, openai_fake, pump, clock):
    me = await register(client, "owner@example.com")
    openai_fake.chat = lambda body: json.dumps(judgement(84))
    call_id = await make_call(me["user"]["id"])
    await transcribed(call_id, me["user"]["id"])

    r = await client.get(f"/api/calls/{call_id}/quality", headers=me["headers"])
    assert r.status_code == 200
    assert r.json() == {"call_id": call_id, "status": "pending", "scored_at": None, "score": None}

    await pump.drain()
    row = await _row(call_id)
    assert row.status == "scored" and row.overall == 84 and row.attempts == 1
    assert row.judge_model == "gpt-4o-mini" and row.rubric_version
    assert len(openai_fake.requests) == 1

    [event] = await _events("call.scored")
    assert set(event.data) == {"call_id", "customer_id", "scored_at", "score"}
    assert event.data["call_id"] == call_id
    assert event.data["customer_id"] == me["user"]["id"]
    assert event.data["scored_at"] == "2026-06-12T08:30:00Z"
    assert event.data["score"]["overall"] == 84
    assert event.data["score"]["dimensions"]["compliance_professionalism"]["score"] == 4

    r = await client.get(f"/api/calls/{call_id}/quality", headers=me["headers"])
    body = r.json()
    assert body["status"] == "scored"
    assert body["scored_at"].startswith("2026-06-12T08:30:00")
    assert body["score"]["overall"] == 84
    assert body["score"]["goal_outcome"] == "achieved"
    assert body["score"]["goal"] == "book_meeting"
    assert set(body["score"]["dimensions"]) == {
        "opening_rapport",
        "discovery_qualification",
        "objection_handling",
        "goal_progress_close",
        "compliance_professionalism",
    }


async def test_redelivered_event_scores_once(openai_fake, pump, clock):
    openai_fake.chat = lambda body: json.dumps(judgement())
    call_id = await make_call()
    await transcribed(call_id)
    await transcribed(call_id)
    await pump.drain()
    assert len(openai_fake.requests) == 1
    assert len(await _events("call.scored")) == 1
    # A third delivery after scoring is a no-op too.
    await transcribed(call_id)
    await pump.drain()
    assert len(openai_fake.requests) == 1


async def test_provider_errors_retry_with_backoff(openai_fake, pump, clock, settings):
    settings.quality_retry_delays = [30, 120]
    answers = [
        {"status": 503, "error": {"message": "overloaded"}},
        {"status": 429, "error": {"message": "slow down"}},
        json.dumps(judgement(66)),
    ]
    openai_fake.chat = lambda body: answers.pop(0)
    call_id = await make_call()
    await transcribed(call_id)

    await pump.drain()
    row = await _row(call_id)
    assert (row.status, row.attempts) == ("pending", 1)
    assert "503" in row.last_error

    clock.advance(29)
    await pump.drain()
    assert len(openai_fake.requests) == 1  # not due before the backoff
    clock.advance(1)
    await pump.drain()
    row = await _row(call_id)
    assert (row.status, row.attempts) == ("pending", 2)
    assert "429" in row.last_error

    clock.advance(119)
    await pump.drain()
    assert len(openai_fake.requests) == 2
    clock.advance(1)
    await pump.drain()
    row = await _row(call_id)
    assert (row.status, row.attempts, row.overall, row.last_error) == ("scored", 3, 66, None)
    assert len(await _events("call.scored")) == 1


async def test_invalid_output_retries_then_fails_with_reason(openai_fake, pump, clock, settings):
    settings.quality_max_attempts = 3
    settings.quality_retry_delays = [10]
    answers = [
        "not json at all",
        json.dumps(judgement(overall=250)),
        chat_response(None, refusal="I won't grade this."),
    ]
    openai_fake.chat = lambda body: answers.pop(0)
    call_id = await make_call()
    await transcribed(call_id)
    await pump.drain()
    assert "not valid JSON" in (await _row(call_id)).last_error
    clock.advance(10)
    await pump.drain()
    assert "overall" in (await _row(call_id)).last_error
    clock.advance(10)
    await pump.drain()
    row = await _row(call_id)
    assert (row.status, row.attempts, row.score) == ("failed", 3, None)
    assert row.last_error == "judge refused: I won't grade this."
    clock.advance(3600)
    assert await pump.drain() == 0
    assert await _events("call.scored") == []


async def test_empty_transcript_fails_without_calling_the_judge(openai_fake, pump, clock):
    call_id = await make_call(transcript=[])
    await transcribed(call_id)
    await pump.drain()
    row = await _row(call_id)
    assert row.status == "failed" and "empty" in row.last_error
    assert openai_fake.requests == []


async def test_transcript_from_the_event_when_the_row_has_none(openai_fake, pump, clock):
    from nova.core.events import emit
    from tests.quality.helpers import TRANSCRIPT

    openai_fake.chat = lambda body: json.dumps(judgement())
    call_id = await make_call(transcript=[])
    async with session_scope() as s:
        await emit(s, "call.transcribed", {"call_id": call_id, "transcript": TRANSCRIPT})
    await pump.drain()
    assert (await _row(call_id)).status == "scored"
    assert "Tuesday works" in openai_fake.requests[0]["messages"][-1]["content"]


async def test_unknown_call_is_ignored(pump, clock, openai_fake):
    async with session_scope() as s:
        from nova.core.events import emit

        await emit(s, "call.transcribed", {"call_id": "nope"})
    await pump.drain()
    async with session_scope() as s:
        assert (await s.execute(select(CallScore))).first() is None
        tasks = list((await s.execute(select(Task))).scalars())
    # Every subscriber (the quality scorer, webhook fan-out) finished without error.
    assert tasks and {t.status for t in tasks} == {"done"}
    assert "quality.queue" in {t.handler for t in tasks}


async def test_without_a_judge_scores_stay_pending_and_health_says_why(
    client, pump, clock, settings, caplog
):
    call_id = await make_call()
    await transcribed(call_id)
    with caplog.at_level("WARNING", logger="nova.quality"):
        await pump.drain()
    assert NOT_CONFIGURED in caplog.text
    row = await _row(call_id)
    assert (row.status, row.attempts, row.last_error) == ("pending", 0, NOT_CONFIGURED)
    async with session_scope() as s:
        assert list(await s.execute(select(Task).where(Task.handler == "quality.score"))) == []

    r = await client.get(f"/api/calls/{call_id}/quality")
    assert r.status_code == 200 and r.json()["score"] is None

    r = await client.get("/health/deep")
    assert r.status_code == 200
    check = r.json()["checks"]["quality_judge"]
    assert check["ok"] is True
    assert check["detail"].startswith("judge not configured") and "1 pending" in check["detail"]


async def test_backlog_is_scored_once_a_judge_is_configured(client, pump, clock, settings):
    from tests.fakes.openai_server import FakeOpenAI

    call_id = await make_call()
    await transcribed(call_id)
    await pump.drain()
    async with session_scope() as s:
        assert await service.requeue_unconfigured(s, settings) == 0  # still no judge

    async with FakeOpenAI(chat=lambda body: json.dumps(judgement(71))) as fake:
        from pydantic import SecretStr

        settings.openai_base_url = fake.base_url
        settings.openai_api_key = SecretStr("sk-test")
        r = await client.get("/health/deep")
        assert r.json()["checks"]["quality_judge"]["detail"] == "judge gpt-4o-mini (1 pending)"
        assert await plugin.requeue_pending() == 1  # the scheduled job
        async with session_scope() as s:
            assert await service.requeue_unconfigured(s, settings) == 0  # already queued
        await pump.drain()
    row = await _row(call_id)
    assert (row.status, row.overall) == ("scored", 71)


async def test_the_call_pipeline_never_waits_for_the_judge(openai_fake, pump, clock):
    from nova.core.pump import TaskPump

    openai_fake.chat = lambda body: json.dumps(judgement())
    call_id = await make_call()
    await transcribed(call_id)
    # The subscriber only records a pending score and queues the judge job.
    subscriber_only = TaskPump(handlers={"quality.queue"})
    assert await subscriber_only.drain() == 1
    assert openai_fake.requests == []
    async with session_scope() as s:
        [task] = list(
            (await s.execute(select(Task).where(Task.handler == "quality.score"))).scalars()
        )
    assert task.status == "pending" and task.payload == {"call_id": call_id}
    assert (await _row(call_id)).status == "pending"
    await pump.drain()
    assert (await _row(call_id)).status == "scored"
