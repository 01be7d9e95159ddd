"""The job entrypoint under ``fake_job_context``: greeting, demo/SIP connection, SIP errors,
voicemail, the duration limit — reporting to the real endpoint, dialing the LiveKit fake
through the real livekit-api client."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from livekit import api
from livekit.agents.testing import fake_job_context
from sqlalchemy import select

from nova.agent import prompts
from nova.agent.reporting import Reporter
from nova.agent.scripted import ScriptedLLM, call
from nova.agent.server import GOODBYE_PLAYOUT_SECONDS, run_job, sip_outcome
from nova.core import clock as clock_mod
from nova.core.db import session_scope
from nova.core.mailer import outbox
from nova.models.events import Event
from tests.telephony.factories import BRIEF, create_call, get_call, meta_for


@pytest.fixture
async def lkapi(livekit):
    client = api.LiveKitAPI(url=livekit.url, api_key=livekit.api_key, api_secret=livekit.api_secret)
    yield client
    await client.aclose()


class Job:
    """Runs ``run_job`` for one call in text mode and cleans up after it."""

    def __init__(self, app, settings, lkapi) -> None:
        self.app, self.settings, self.lkapi = app, settings, lkapi
        # The job's sleeps (the max-duration watchdog) end when the frozen test clock has
        # moved past their deadline and ``tick()`` is called: no real time passes.
        self.sleepers: list[tuple[float, asyncio.Event]] = []
        self.runners = []
        self.reporters = []

    async def sleep(self, seconds: float) -> None:
        woken = asyncio.Event()
        self.sleepers.append((clock_mod.monotonic() + seconds, woken))
        await woken.wait()

    def tick(self) -> None:
        for deadline, woken in self.sleepers:
            if clock_mod.monotonic() >= deadline:
                woken.set()

    async def start(self, meta, llm=None, *, caller=None, metadata: str | None = None, **kw):
        reporter = Reporter(
            self.settings,
            meta.call_id if meta else "x",
            "http://testserver/internal/worker",
            transport=httpx.ASGITransport(app=self.app),
            retry_delay=0,
        )
        self.reporters.append(reporter)
        self.llm = llm or ScriptedLLM()

        async def joined():
            return None

        # The fake job context is installed while the job starts (as the worker does).
        with fake_job_context(
            job_metadata=metadata if metadata is not None else meta.model_dump_json()
        ) as ctx:
            runner = await run_job(
                ctx,
                self.settings,
                reporter=reporter,
                lkapi=self.lkapi,
                llm=self.llm,
                text_only=True,
                wait_for_caller=caller or joined,
                sleep=self.sleep,
                **kw,
            )
        if runner is not None:
            self.runners.append(runner)
        return runner

    async def close(self) -> None:
        # Let in-flight reports finish (a cancelled request could leave a SQLite write
        # transaction open), close the session (which hangs up and reports), then stop
        # the duration watchdogs.
        for r in self.runners:
            if r.started_task is not None:
                await asyncio.wait_for(asyncio.shield(r.started_task), 5)
            await r.session.aclose()
            await asyncio.wait_for(r.ended.wait(), 5)
            for t in list(r._tasks):
                t.cancel()
        for rep in self.reporters:
            await rep.aclose()


@pytest.fixture
async def job(app, settings, lkapi):
    j = Job(app, settings, lkapi)
    yield j
    await j.close()


def said(runner) -> list[tuple[str, str]]:
    return [
        (i.role, i.text_content)
        for i in runner.session.history.items
        if i.type == "message" and i.role in ("user", "assistant")
    ]


async def events(type_: str) -> list[Event]:
    async with session_scope() as s:
        return list((await s.scalars(select(Event).where(Event.type == type_))).all())


async def test_demo_job_greets_with_the_opening_line_then_reports_the_whole_call(
    job, livekit, clock, pump
):
    row = await create_call(goal="book_meeting", status="in_progress")
    llm = ScriptedLLM(
        [
            "Great. What is your budget?",
            [
                call("record_answer", question="What is your budget?", answer="1M"),
                call("record_answer", question="When do you plan to buy?", answer="soon"),
            ],
            "Lovely, I'll be in touch. Goodbye!",
            call("end_call", reason="completed"),
        ]
    )
    runner = await job.start(meta_for(row), llm)
    await runner.greeting
    await runner.started_task
    # The opening line was spoken as-is, without asking the model.
    assert said(runner) == [("assistant", BRIEF.opening_line)]
    assert llm.requests == []
    started = await get_call(row.id)
    assert started.status == "in_progress" and started.started_at == clock.now()

    await runner.session.run(user_input="Yes, go ahead")
    clock.advance(95)
    await runner.session.run(user_input="1M, soon")
    await runner.session.run(user_input="bye")
    await asyncio.wait_for(runner.ended.wait(), 5)

    done = await get_call(row.id)
    assert (done.status, done.outcome, done.duration_seconds, done.end_reason) == (
        "completed",
        "incomplete",
        95,
        "completed",
    )
    assert done.result["answers"] == {
        "What is your budget?": "1M",
        "When do you plan to buy?": "soon",
    }
    assert [t["role"] for t in done.transcript] == [
        "agent",
        "user",
        "agent",
        "user",
        "agent",
        "user",
    ]
    assert done.transcript[0]["text"] == BRIEF.opening_line
    [ended] = await events("call.ended")
    assert ended.data["duration_seconds"] == 95 and ended.data["call_id"] == row.id
    [transcribed] = await events("call.transcribed")
    assert transcribed.data["turns"] == 6
    # The room is deleted to hang up.
    assert [r.room for r in livekit.calls("RoomService", "DeleteRoom")] == [row.room_name]
    outbox.clear()
    await pump.drain()
    assert [m.to for m in outbox] == ["owner@example.com"]


async def test_demo_caller_never_joins(job, livekit, settings):
    settings.agent_caller_wait_seconds = 0
    row = await create_call()

    async def never():
        await asyncio.Event().wait()

    runner = await job.start(meta_for(row), caller=never)
    assert runner.greeting is None
    await asyncio.wait_for(runner.ended.wait(), 5)
    done = await get_call(row.id)
    assert (done.status, done.outcome) == ("failed", "no_show")
    assert done.error == "The test caller did not join within 0 s"
    assert livekit.calls("RoomService", "DeleteRoom")


async def test_sip_job_dials_then_greets(job, livekit, settings):
    row = await create_call(mode="sip")
    meta = meta_for(
        row, sip_trunk_id="ST_trunk1", caller_id="+15555550199", max_duration_seconds=300
    )
    runner = await job.start(meta)
    [req] = livekit.calls("SIP", "CreateSIPParticipant")
    assert (req.sip_trunk_id, req.sip_call_to, req.sip_number, req.room_name) == (
        "ST_trunk1",
        "+971501234567",
        "+15555550199",
        row.room_name,
    )
    assert req.wait_until_answered is True and req.krisp_enabled is True
    assert req.ringing_timeout.seconds == settings.agent_ring_timeout_seconds
    assert req.max_call_duration.seconds == 330
    await runner.greeting
    assert said(runner) == [("assistant", BRIEF.opening_line)]


@pytest.mark.parametrize(
    ("code", "status", "outcome"),
    [
        (486, "Busy Here", "busy"),
        (600, "Busy Everywhere", "busy"),
        (408, "Request Timeout", "no_answer"),
        (480, "Temporarily Unavailable", "no_answer"),
        (487, "Request Terminated", "no_answer"),
        (503, "Service Unavailable", "failed"),
    ],
)
async def test_sip_failures_end_the_call_with_a_clear_outcome(job, livekit, code, status, outcome):
    livekit.fail_sip(code, status)
    row = await create_call(mode="sip")
    runner = await job.start(meta_for(row, sip_trunk_id="ST_trunk1"))
    await asyncio.wait_for(runner.ended.wait(), 5)
    assert runner.greeting is None and said(runner) == []
    done = await get_call(row.id)
    assert (done.status, done.outcome, done.error) == ("failed", outcome, f"SIP {code} {status}")
    assert done.duration_seconds == 0 and done.end_reason == f"sip {code}"
    [ended] = await events("call.ended")
    assert ended.data["outcome"] == outcome
    assert [r.room for r in livekit.calls("RoomService", "DeleteRoom")] == [row.room_name]


async def test_sip_non_sip_error_and_missing_trunk_fail(job, livekit, settings):
    livekit.fail("SIP", "CreateSIPParticipant", status=500, code="internal", msg="boom")
    row = await create_call(mode="sip")
    runner = await job.start(meta_for(row, sip_trunk_id="ST_trunk1"))
    await asyncio.wait_for(runner.ended.wait(), 5)
    done = await get_call(row.id)
    assert (done.status, done.outcome, done.error) == ("failed", "failed", "dial failed: boom")

    settings.sip_outbound_trunk_id = None
    row2 = await create_call(mode="sip")
    runner = await job.start(meta_for(row2))
    await asyncio.wait_for(runner.ended.wait(), 5)
    done = await get_call(row2.id)
    assert (done.status, done.error) == ("failed", "No outbound SIP trunk is configured")


def test_sip_outcome_mapping():
    assert [sip_outcome(c) for c in (486, 600, 408, 480, 487, 404, 503, None)] == [
        "busy",
        "busy",
        "no_answer",
        "no_answer",
        "no_answer",
        "failed",
        "failed",
        "failed",
    ]


async def test_max_duration_says_goodbye_and_deletes_the_room(job, livekit, clock):
    row = await create_call()
    runner = await job.start(meta_for(row, max_duration_seconds=60))
    await runner.greeting
    # The goodbye starts 10 s (GOODBYE_PLAYOUT_SECONDS, at most a quarter of the limit)
    # before the limit, so that it is said inside it: not a second earlier, nor later.
    goodbye_at = 60 - min(GOODBYE_PLAYOUT_SECONDS, 60 / 4)
    clock.advance(goodbye_at - 1)
    job.tick()
    for _ in range(20):
        await asyncio.sleep(0)
    assert runner.state.hangup_requested is None and not runner.ended.is_set()
    clock.advance(1)
    job.tick()  # the watchdog's deadline has come
    await asyncio.wait_for(runner.ended.wait(), 5)
    assert runner.state.hangup_requested == "max_duration"
    assert said(runner)[-1] == ("assistant", prompts.TIME_UP_EN)
    done = await get_call(row.id)
    assert (done.status, done.end_reason, done.duration_seconds) == (
        "completed",
        "max_duration",
        goodbye_at,  # the goodbye (instant in text mode) ended the call inside the limit
    )
    assert livekit.calls("RoomService", "DeleteRoom")


@pytest.mark.parametrize("action", ["hang_up", "leave_message"])
async def test_voicemail_detection(job, livekit, settings, action):
    settings.agent_voicemail_action = action
    row = await create_call(mode="sip")
    llm = ScriptedLLM([call("detected_answering_machine")])
    runner = await job.start(meta_for(row, sip_trunk_id="ST_trunk1"), llm)
    await runner.greeting
    r = await runner.session.run(
        user_input="Hi, you've reached Sam. Leave a message after the tone."
    )
    r.expect.next_event().is_function_call(name="detected_answering_machine")
    await asyncio.wait_for(runner.ended.wait(), 5)
    done = await get_call(row.id)
    assert (done.outcome, done.end_reason, done.goal_completed) == ("voicemail", "voicemail", False)
    spoken = [t["text"] for t in done.transcript if t["role"] == "agent"]
    message = prompts.voicemail_message(runner.meta)
    assert (message in spoken) is (action == "leave_message")


async def test_invalid_metadata_ends_the_job(job):
    assert await job.start(None, metadata="{not json") is None


async def test_session_closing_on_its_own_reports_and_cleans_the_room(job, livekit):
    """The lead hangs up: the session closes, the call is reported and the room deleted."""
    row = await create_call()
    runner = await job.start(meta_for(row))
    await runner.greeting
    await runner.session.run(user_input="Sorry, wrong number")
    await runner.session.aclose()
    await asyncio.wait_for(runner.ended.wait(), 5)
    done = await get_call(row.id)
    assert (done.status, done.outcome) == ("completed", "incomplete")
    assert done.end_reason  # the session's close reason
    assert [t["role"] for t in done.transcript] == ["agent", "user", "agent"]
    assert [r.room for r in livekit.calls("RoomService", "DeleteRoom")] == [row.room_name]


@pytest.mark.parametrize("joins", ["after_the_render", "at_once"])
async def test_greeting_is_prerendered_while_the_caller_joins(job, joins):
    """The greeting is synthesized at job start; when the lead arrives it plays from that
    render (finished or still running): one TTS request, no second round trip."""
    from tests.agent.fake_audio import InstantAudioOutput, RecordingTTS

    tts, sink = RecordingTTS(), InstantAudioOutput()

    async def caller_joins():
        if joins == "after_the_render":
            await tts.done.wait()

    row = await create_call()
    runner = await job.start(meta_for(row), tts=tts, audio_output=sink, caller=caller_joins)
    await runner.greeting
    assert tts.texts == [BRIEF.opening_line]  # one request, the whole line
    assert sink.frames > 0
    assert said(runner) == [("assistant", BRIEF.opening_line)]
    assert runner.agent.voice_started.is_set()


async def test_greeting_without_prerender_goes_through_the_live_tts(job):
    from tests.agent.fake_audio import InstantAudioOutput, RecordingTTS

    tts, sink = RecordingTTS(), InstantAudioOutput()
    row = await create_call()
    runner = await job.start(meta_for(row), tts=tts, audio_output=sink, prerender_greeting=False)
    await runner.greeting
    # The live pipeline speaks it sentence by sentence.
    assert tts.texts == ["Hi Sam, this is Nova from Acme Realty.", "Do you have a minute?"]
    assert sink.frames > 0
    assert said(runner) == [("assistant", BRIEF.opening_line)]


async def test_worker_shutdown_reports_the_call(job):
    """The worker shutting down mid-call (drain, deploy) still reports the end."""
    row = await create_call()
    runner = await job.start(meta_for(row))
    await runner.greeting
    await runner.started_task
    await asyncio.gather(*(cb("shutdown") for cb in runner.ctx._shutdown_callbacks))
    done = await get_call(row.id)
    assert (done.status, done.end_reason) == ("completed", "worker shutdown")
    assert done.transcript[0]["text"] == BRIEF.opening_line
