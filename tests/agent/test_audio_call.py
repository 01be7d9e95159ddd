"""A call on real audio, end to end: the job ``nova worker`` runs for a dispatch, from the
dispatch metadata to the signed reports a real control plane (uvicorn on loopback) receives.

Only the room's transport is replaced: the lead's microphone feeds real speech (rendered
by piper) in real time, the lead's earpiece plays the agent's audio in real time and keeps
it. Silero VAD, speech-to-text and text-to-speech run for real (STT/TTS through
``nova speech``, the product's offline server, reached by the unchanged openai plugin);
the LLM is the loopback OpenAI fake, streamed. What the agent said is checked by
transcribing its output audio back.

The machine may be loaded (other builds run beside CI): every wait is on an event with a
generous bound, and no latency is asserted here (bench/ measures it).
"""

from __future__ import annotations

import asyncio
import contextlib

import numpy as np
import pytest
from livekit import api
from livekit.agents.testing import fake_job_context
from sqlalchemy import select

from nova.agent import prompts
from nova.agent.server import prewarm, run_job
from nova.core.db import session_scope
from nova.models.events import Event
from nova.models.worker import DoNotCall
from tests.agent.audio import RATE, LeadMicrophone, LeadSpeaker, words
from tests.fakes.openai_server import chat_response, tool_call
from tests.telephony.factories import BRIEF, create_call, get_call, meta_for

WAIT = 60.0  # seconds: bound on any one step (real time on a possibly loaded machine)

LEAD = {
    "yes": "Yes, I have a minute.",
    "budget": "About two million dirhams.",
    "stop": "Please stop calling me.",
    "hello": "Hello?",
    "voicemail": (
        "Hi, you have reached Sam. I can't take your call right now. "
        "Please leave a message after the tone."
    ),
}
QUESTION = "Great. What is your budget?"
PITCH = (
    "The Marina towers have two bedroom flats from one point two million "
    "dirhams, with a pool, a gym and a private beach, and the handover is at the end of "
    "twenty twenty seven. Payment plans start at one percent a month, and most buyers pick "
    "the sea view floors, which always go first. Viewings run every day from nine in the "
    "morning until six in the evening, and I can book one for you this week."
)
GOODBYE = "I am sorry for the trouble. You will not be called again. Goodbye."


@pytest.fixture(scope="session")
async def lead_lines(speech):
    """The lead's lines as 24 kHz PCM, rendered once by nova speech (piper); the voicemail
    greeting ends with its tone."""
    lines = {key: await speech.speak(text) for key, text in LEAD.items()}
    t = np.arange(int(0.6 * RATE)) / RATE
    tone = (np.sin(2 * np.pi * 1000 * t) * 8000).astype(np.int16).tobytes()
    lines["voicemail"] += b"\0\0" * (RATE // 2) + tone
    return lines


@pytest.fixture
async def lkapi(livekit):
    client = api.LiveKitAPI(url=livekit.url, api_key=livekit.api_key, api_secret=livekit.api_secret)
    yield client
    await client.aclose()


def _text(message: dict) -> str:
    content = message.get("content") or ""
    if isinstance(content, list):
        content = " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return content


def sales_model(body: dict) -> dict | str:
    """The LLM's side of the conversation, decided from what it is sent."""
    messages = body["messages"]
    if "Classify the call greeting" in _text(messages[0]):  # answering-machine detection
        greeting = _text(messages[-1]).lower()
        machine = any(w in greeting for w in ("reached", "message", "tone", "voicemail"))
        label = "machine-vm" if machine else "human"
        return chat_response(None, tool_calls=[tool_call("save_prediction", label=label)])
    last = messages[-1]
    if last["role"] == "tool":  # opt_out answered: apologise and hang up
        return chat_response(GOODBYE, tool_calls=[tool_call("end_call", reason="opted out")])
    said = _text(last).lower()
    if "stop calling" in said or "calling me" in said:
        return chat_response(None, tool_calls=[tool_call("opt_out", reason=_text(last))])
    if sum(1 for m in messages if m["role"] == "user") == 1:
        return QUESTION
    return PITCH


def user_turn_requests(fake) -> list[str]:
    """The LLM requests that answer a lead's turn (the last message is the lead's)."""
    return [
        _text(r["messages"][-1])
        for r in fake.requests
        if r["messages"][-1]["role"] == "user"
        and "Classify the call" not in _text(r["messages"][0])
    ]


async def events(type_: str) -> list[Event]:
    async with session_scope() as s:
        return list((await s.scalars(select(Event).where(Event.type == type_))).all())


async def until(predicate, what: str, within: float = WAIT) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {within:.0f} s waiting for {what}")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def spoken_call(meta, settings, lkapi, speech):
    """Runs the worker's job for ``meta`` with the lead's audio devices as transport."""
    settings.agent_stt_base_url = speech.url
    settings.agent_tts_base_url = speech.url
    mic, ear = LeadMicrophone(), LeadSpeaker()

    async def joined():
        return None

    with fake_job_context(job_metadata=meta.model_dump_json()) as ctx:
        prewarm(ctx.proc)  # the worker's own prewarm: Silero VAD (+ end-of-turn model)
        runner = await run_job(
            ctx, settings, lkapi=lkapi, audio_input=mic, audio_output=ear, wait_for_caller=joined
        )
        assert runner is not None
        try:
            yield runner, mic, ear
        finally:
            mic.close()
            if not runner.ended.is_set():
                await runner.session.aclose()
            await asyncio.wait_for(runner.ended.wait(), WAIT)
            for task in list(runner._tasks):
                task.cancel()


async def heard(speech, playout) -> set[str]:
    await asyncio.wait_for(playout.finished.wait(), WAIT)
    return words(await speech.transcribe(playout.heard_pcm()))


async def test_a_spoken_call_from_dispatch_to_reports(
    speech, lead_lines, control_plane, openai_fake, livekit, lkapi, settings
):
    # demo calls: VAD endpointing, the default (bench/README.md, "Turn-taking")
    openai_fake.chat = sales_model
    row = await create_call(goal="book_meeting", status="in_progress")
    meta = meta_for(row, report_url=f"{control_plane}/internal/worker")

    async with spoken_call(meta, settings, lkapi, speech) as (runner, mic, ear):
        # 1. The opening line is spoken.
        await until(lambda: len(ear.playouts) >= 1, "the greeting")
        greeting = await heard(speech, ear.playouts[0])
        assert {"sam", "nova", "minute"} <= greeting, greeting
        assert runner.state.phase == "opening"

        # 2. The lead's answer is heard and moves the call to qualification.
        await mic.say(lead_lines["yes"], pause_after=0.2)
        await until(lambda: len(ear.playouts) >= 2, "the reply to the lead's answer")
        assert "budget" in await heard(speech, ear.playouts[1])
        assert runner.state.phase == "qualification"

        # 3. The lead answers; while the agent's long pitch plays, they talk over it.
        await mic.say(lead_lines["budget"], pause_after=0.2)
        await until(lambda: len(ear.playouts) >= 3, "the pitch")
        pitch = ear.playouts[2]
        loop = asyncio.get_running_loop()
        # Two seconds into its long first sentence, the lead talks over it.
        await until(
            lambda: pitch.duration > 4.0 and loop.time() - pitch.started_at > 2.0,
            "two seconds of the pitch",
        )
        assert not pitch.finished.is_set()
        for _ in range(3):  # like a person, say it again if the agent talks on
            await mic.say(lead_lines["stop"], pause_after=0.2)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(pitch.finished.wait(), 8.0)
            if pitch.finished.is_set():
                break
        await asyncio.wait_for(pitch.finished.wait(), WAIT)
        assert pitch.interrupted, "the agent kept talking over the lead"
        heard_of_pitch = await heard(speech, pitch)
        assert "marina" in heard_of_pitch, heard_of_pitch
        assert not {"viewings", "evening", "week"} & heard_of_pitch, heard_of_pitch

        # 4. "Please stop calling me": do-not-call, an apology, and the agent hangs up.
        await asyncio.wait_for(runner.ended.wait(), WAIT)
        goodbye = await heard(speech, ear.playouts[-1])
        assert {"called", "goodbye"} <= goodbye, goodbye

    assert runner.state.opted_out

    # The control plane got everything over signed HTTP.
    async with session_scope() as s:
        dnc = (await s.scalars(select(DoNotCall).where(DoNotCall.phone == row.phone))).all()
    assert [d.call_id for d in dnc] == [row.id]
    done = await get_call(row.id)
    assert (done.status, done.outcome) == ("completed", "opted_out")
    roles = [t["role"] for t in done.transcript]
    assert roles[:2] == ["agent", "user"] and roles.count("user") >= 3, done.transcript
    # One LLM request per lead turn: no preemptive generation thrown away.
    assert len(user_turn_requests(openai_fake)) == roles.count("user"), user_turn_requests(
        openai_fake
    )
    assert done.transcript[0]["text"] == BRIEF.opening_line
    lead_said = " ".join(t["text"] for t in done.transcript if t["role"] == "user").lower()
    assert "minute" in lead_said and "stop calling" in lead_said, lead_said
    # The session knows the pitch was cut off.
    [pitch_item] = [
        i
        for i in runner.session.history.items
        if i.type == "message" and "Marina" in i.text_content
    ]
    assert pitch_item.role == "assistant" and pitch_item.interrupted
    [ended] = await events("call.ended")
    assert ended.data["call_id"] == row.id and ended.data["outcome"] == "opted_out"
    [transcribed] = await events("call.transcribed")
    assert transcribed.data["turns"] == len(done.transcript)
    assert [r.room for r in livekit.calls("RoomService", "DeleteRoom")] == [row.room_name]


async def test_a_voicemail_greeting_ends_the_call_as_voicemail(
    speech, lead_lines, control_plane, openai_fake, livekit, lkapi, settings
):
    """livekit-agents' answering-machine detection holds the greeting, hears a machine, and
    the agent leaves its message once the greeting is over."""
    settings.agent_turn_detector = False
    settings.agent_voicemail_action = "leave_message"
    openai_fake.chat = sales_model
    row = await create_call(mode="sip")
    meta = meta_for(row, sip_trunk_id="ST_trunk1", report_url=f"{control_plane}/internal/worker")

    async with spoken_call(meta, settings, lkapi, speech) as (runner, mic, ear):
        await mic.say(lead_lines["voicemail"])  # the phone was answered by the machine
        greeting_over_at = asyncio.get_running_loop().time()
        await asyncio.wait_for(runner.ended.wait(), WAIT)

    assert runner.state.extra["amd"]["category"] == "machine-vm"
    # The opening line never played onto the tape; the message did, after the tone.
    [message] = ear.playouts
    assert message.started_at >= greeting_over_at - 0.1
    assert not message.interrupted
    left = await heard(speech, message)
    assert {"quick", "message", "marina"} <= left, left
    assert "minute" not in left
    done = await get_call(row.id)
    assert (done.outcome, done.end_reason, done.goal_completed) == ("voicemail", "voicemail", False)
    assert prompts.voicemail_message(meta) in [t["text"] for t in done.transcript]
    [ended] = await events("call.ended")
    assert ended.data["outcome"] == "voicemail"
    [amd_request] = [
        r for r in openai_fake.requests if "Classify the call" in _text(r["messages"][0])
    ]
    assert "reached" in _text(amd_request["messages"][-1]).lower()


async def test_a_person_answering_the_phone_is_greeted(
    speech, lead_lines, control_plane, openai_fake, livekit, lkapi, settings
):
    settings.agent_turn_detector = False
    openai_fake.chat = sales_model
    row = await create_call(mode="sip")
    meta = meta_for(row, sip_trunk_id="ST_trunk1", report_url=f"{control_plane}/internal/worker")

    async with spoken_call(meta, settings, lkapi, speech) as (runner, mic, ear):
        await mic.say(lead_lines["hello"])
        await until(lambda: len(ear.playouts) >= 1, "the greeting")
        greeting = await heard(speech, ear.playouts[0])
        assert {"sam", "nova", "minute"} <= greeting, greeting
        assert runner.state.extra["amd"]["category"] == "human"
        assert not runner.state.voicemail
