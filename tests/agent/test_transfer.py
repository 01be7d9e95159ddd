"""Transfer to a person, in text mode: the real job (``run_job``) with a scripted LLM, the
LiveKit fake receiving the SIP transfer requests through the real livekit-api client, and the
reports reaching the real control plane endpoint (→ ``call.ended``)."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest
from livekit import rtc
from livekit.agents import llm as lk_llm
from livekit.agents.testing import fake_job_context
from livekit.agents.utils import http_context
from livekit.protocol import sip

from nova.agent import transfer
from nova.agent.scripted import ScriptedLLM, call
from nova.agent.state import CallState
from nova.core.mailer import outbox
from tests.agent import test_worker_job as worker_job
from tests.agent.test_worker_job import events, said
from tests.telephony.factories import create_call, get_call, meta_for

# The worker-job tests' fixtures: run_job in text mode against the LiveKit fake.
job, lkapi = worker_job.job, worker_job.lkapi

HUMAN = "+14155550123"
ASK = "Can I talk to a real person please?"


def tool_outputs(llm: ScriptedLLM) -> list[tuple[str, bool]]:
    """(output, is_error) of every tool result the model was shown, in order."""
    seen: list[tuple[str, bool]] = []
    for ctx in llm.requests:
        for item in ctx.items:
            if item.type == "function_call_output" and (item.output, item.is_error) not in seen:
                seen.append((item.output, item.is_error))
    return seen


async def sip_job(job, livekit, *, mode="cold", to=HUMAN, llm=None, **kw):
    row = await create_call(mode="sip", goal="qualify_interest")
    meta = meta_for(
        row,
        sip_trunk_id="ST_trunk1",
        caller_id="+15555550199",
        transfer_to=to,
        transfer_mode=mode,
        **kw,
    )
    runner = await job.start(meta, llm)
    await runner.greeting
    return row, runner


async def test_cold_transfer_refers_the_lead_and_ends_as_transferred(
    job, livekit, settings, clock, pump
):
    llm = ScriptedLLM([call("transfer_to_human", reason="wants to negotiate the price")])
    row, runner = await sip_job(job, livekit, llm=llm)
    clock.advance(42)
    r = await runner.session.run(user_input=ASK)
    r.expect.next_event().is_function_call(
        name="transfer_to_human", arguments={"reason": "wants to negotiate the price"}
    )
    await asyncio.wait_for(runner.ended.wait(), 5)
    # The model was told when to use the tool.
    assert "call transfer_to_human" in llm.requests[0].items[0].text_content
    assert "transfer_to_human" in llm.tools_offered[0]

    # The lead's SIP leg was transferred (SIP REFER) to the account's number.
    [req] = livekit.calls("SIP", "TransferSIPParticipant")
    assert (req.room_name, req.participant_identity, req.transfer_to) == (
        row.room_name,
        f"lead-{row.id}",
        f"tel:{HUMAN}",
    )
    assert req.play_dialtone is False
    assert req.ringing_timeout.seconds == settings.agent_ring_timeout_seconds
    assert livekit.calls("RoomService", "MoveParticipant") == []
    # The lead heard why they wait, then the agent stepped out; the room is cleaned up.
    assert said(runner)[-1] == ("assistant", transfer.HOLD_EN)
    assert [r.room for r in livekit.calls("RoomService", "DeleteRoom")] == [row.room_name]

    done = await get_call(row.id)
    assert (done.status, done.outcome, done.goal_completed, done.duration_seconds) == (
        "completed",
        "transferred",
        False,
        42,
    )
    assert done.end_reason == "transferred to a person"
    assert done.result["transfer"]["status"] == "transferred"
    assert done.result["transfer"]["to"] == HUMAN
    assert done.result["transfer"]["transfer_id"].startswith("STX_")
    [ended] = await events("call.ended")
    assert ended.data["outcome"] == "transferred" and ended.data["call_id"] == row.id
    outbox.clear()
    await pump.drain()
    [mail] = outbox
    assert f"Transferred to {HUMAN} (cold)." in mail.body


async def test_warm_transfer_dials_the_person_then_moves_them_to_the_lead(
    livekit, settings, monkeypatch
):
    """The warm path is livekit-agents' WarmTransferTask. Without a media server its room
    work cannot run here; what it is given and the LiveKit requests it sends can: dialling
    the person (into a side room, through the call's trunk and caller ID), then moving them
    into the lead's room."""
    row = await create_call(mode="sip", goal="book_meeting")
    meta = meta_for(row, sip_trunk_id="ST_trunk1", caller_id="+15555550199", transfer_to=HUMAN)
    chat = lk_llm.ChatContext()
    chat.add_message(role="user", content="I want to speak to a manager about the price")
    task = transfer.HumanTransfer(settings, CallState(meta=meta), None).warm_task(
        chat, "price negotiation"
    )
    # Our brief of the lead and the conversation so far reach the person's briefing prompt.
    text = str(task.instructions)
    assert "price negotiation" in text and "Marina towers" in text and "Globex" in text
    assert "Caller: I want to speak to a manager about the price" in text
    assert "Arabic" not in text
    assert "brief the person in Arabic" in transfer.handover_brief(
        meta_for(row, language="ar-AE"), "price"
    )

    # The workflow dials through the job's LiveKitAPI (credentials from the environment,
    # as the worker exports them).
    monkeypatch.setenv("LIVEKIT_URL", livekit.url)
    monkeypatch.setenv("LIVEKIT_API_KEY", livekit.api_key)
    monkeypatch.setenv("LIVEKIT_API_SECRET", livekit.api_secret)
    side_room = f"{row.room_name}-human-agent"
    async with http_context.open():
        with fake_job_context(job_metadata=meta.model_dump_json()):
            await task._originate_human_agent(
                room_name=side_room, identity="human-agent-sip", room=rtc.Room()
            )
    [req] = livekit.calls("SIP", "CreateSIPParticipant")
    assert (req.sip_call_to, req.sip_trunk_id, req.sip_number, req.room_name) == (
        HUMAN,
        "ST_trunk1",
        "+15555550199",
        side_room,
    )
    assert req.participant_identity == "human-agent-sip" and req.wait_until_answered is True
    assert req.ringing_timeout.seconds == settings.agent_ring_timeout_seconds

    # When the person accepts, the workflow moves them into the lead's room. The two rooms
    # are media connections (no media server here): stand-ins carry just their names.
    class _Room:
        def __init__(self, name: str) -> None:
            self.name = name

        def off(self, *_args) -> None:
            pass

    task._caller_room = _Room(row.room_name)
    task._human_agent_sess = SimpleNamespace(room_io=SimpleNamespace(room=_Room(side_room)))
    async with http_context.open():
        with fake_job_context(job_metadata=meta.model_dump_json()):
            await task._merge_calls()
    [move] = livekit.calls("RoomService", "MoveParticipant")
    assert (move.room, move.identity, move.destination_room) == (
        side_room,
        "human-agent-sip",
        row.room_name,
    )
    assert [p.identity for p in livekit.participants[row.room_name]] == ["human-agent-sip"]
    assert livekit.participants[side_room] == []


async def test_warm_transfer_without_a_room_keeps_the_call_going(job, livekit):
    """Text mode has no room to hold the lead in: the model is told, nothing is dialled."""
    llm = ScriptedLLM([call("transfer_to_human", reason="asked for a person"), "Sorry about that."])
    row, runner = await sip_job(job, livekit, mode="warm", llm=llm)
    await runner.session.run(user_input=ASK)
    [(output, is_error)] = tool_outputs(llm)
    assert is_error and "did not go through" in output and "needs the call's LiveKit room" in output
    assert len(livekit.calls("SIP", "CreateSIPParticipant")) == 1  # the lead's leg only
    assert not runner.ended.is_set()


async def test_after_a_warm_hand_off_the_agent_leaves_the_room_to_the_lead_and_the_person(
    job, livekit
):
    """Once the person is in the lead's room the agent reports ``transferred`` and stops its
    session, but neither deletes the room nor leaves the job (the workflow deletes the room
    when either of them hangs up)."""
    row, runner = await sip_job(job, livekit, mode="warm")
    shutdowns: list[str] = []
    runner.ctx._on_shutdown = shutdowns.append  # fake_job_context's on_shutdown hook
    runner.state.transferrer.record("transferred", "asked for a manager")
    await runner.hangup("transferred")
    done = await get_call(row.id)
    assert (done.status, done.outcome) == ("completed", "transferred")
    assert done.result["transfer"]["mode"] == "warm"
    assert livekit.calls("RoomService", "DeleteRoom") == []
    assert shutdowns == []


@pytest.mark.parametrize(
    ("code", "status", "reason", "why"),
    [
        (486, "Busy Here", "STR_REJECTED", "SIP 486 Busy Here"),
        (408, "Request Timeout", "STR_RINGING_TIMEOUT", "SIP 408 Request Timeout"),
    ],
)
async def test_refused_transfer_is_told_to_the_model_and_the_call_goes_on(
    job, livekit, code, status, reason, why
):
    livekit.fail_transfer(code, status, reason)
    llm = ScriptedLLM(
        [
            call("transfer_to_human", reason="asked for a person"),
            "I'm sorry, nobody can take the call right now. Shall we book a callback?",
        ]
    )
    row, runner = await sip_job(job, livekit, llm=llm)
    r = await runner.session.run(user_input=ASK)
    r.expect.next_event().is_function_call(name="transfer_to_human")
    r.expect.next_event().is_message(role="assistant")  # the hold line
    r.expect.next_event().is_function_call_output(is_error=True)
    r.expect.next_event().is_message(role="assistant")
    [(output, _)] = tool_outputs(llm)
    assert output == transfer.FAILED.format(why=why)
    assert not runner.ended.is_set()
    assert livekit.calls("RoomService", "DeleteRoom") == []

    # The call continues and ends normally; the attempt is in the result.
    await runner.session.aclose()
    await asyncio.wait_for(runner.ended.wait(), 5)
    done = await get_call(row.id)
    assert done.outcome == "incomplete"
    assert done.result["transfer"] == {
        "status": "failed",
        "mode": "cold",
        "to": HUMAN,
        "reason": "asked for a person",
        "error": why,
    }


async def test_transfer_response_without_success_is_a_failure(job, livekit):
    """LiveKit may answer without an error and still not have transferred the call."""
    livekit.transfer_answer = sip.TransferSIPParticipantResponse(
        transfer_id="STX_1",
        status=sip.SIPTransferStatus.STS_TRANSFER_FAILED,
        reason=sip.SIPTransferReason.STR_CANCELED,
    )
    llm = ScriptedLLM([call("transfer_to_human", reason="x"), "Sorry."])
    _, runner = await sip_job(job, livekit, llm=llm)
    await runner.session.run(user_input=ASK)
    [(output, is_error)] = tool_outputs(llm)
    assert is_error and "(transfer canceled)" in output
    assert not runner.ended.is_set()


async def test_no_human_number_tells_the_model_and_the_call_goes_on(job, livekit, clock, pump):
    llm = ScriptedLLM(
        [
            call("transfer_to_human", reason="wants a person"),
            "Nobody is free right now, but I can arrange a callback.",
            call("record_outcome", outcome="callback_requested", goal_completed=False),
        ]
    )
    row, runner = await sip_job(job, livekit, to=None, llm=llm)
    r = await runner.session.run(user_input=ASK)
    r.expect.next_event().is_function_call(name="transfer_to_human")
    r.expect.next_event().is_function_call_output(is_error=True)
    r.expect.next_event().is_message(role="assistant")
    assert tool_outputs(llm) == [(transfer.NOT_CONFIGURED, True)]
    assert livekit.calls("SIP", "TransferSIPParticipant") == []
    assert not runner.ended.is_set()
    await runner.session.run(user_input="Yes, call me back tomorrow")
    await runner.session.aclose()
    await asyncio.wait_for(runner.ended.wait(), 5)
    done = await get_call(row.id)
    assert done.outcome == "callback_requested"
    assert done.result["transfer"] == {"status": "not_configured", "reason": "wants a person"}
    outbox.clear()
    await pump.drain()
    [mail] = outbox  # the owner learns the lead wanted a person and why nobody came
    assert "no transfer number is set (PUT /me/transfer)" in mail.body


@pytest.mark.parametrize(
    ("language", "message"), [("en", transfer.DEMO_EN), ("ar-AE", transfer.DEMO_AR)]
)
async def test_demo_call_says_transfer_happens_only_on_phone_calls(job, livekit, language, message):
    row = await create_call(goal="book_meeting")  # demo mode
    llm = ScriptedLLM([call("transfer_to_human", reason="wants a person"), "Anything else?"])
    runner = await job.start(meta_for(row, language=language, transfer_to=HUMAN), llm)
    await runner.greeting
    r = await runner.session.run(user_input=ASK)
    r.expect.next_event().is_function_call(name="transfer_to_human")
    r.expect.next_event().is_function_call_output(is_error=False)
    # Spoken as written (not left to the model), and nothing is dialled or transferred.
    assert said(runner)[-1] == ("assistant", message)
    assert "phone calls" in transfer.DEMO_EN
    assert livekit.calls("SIP", "TransferSIPParticipant") == []
    assert livekit.calls("SIP", "CreateSIPParticipant") == []
    assert not runner.ended.is_set()
    await runner.session.aclose()
    await asyncio.wait_for(runner.ended.wait(), 5)
    done = await get_call(row.id)
    assert done.outcome == "incomplete"
    assert done.result["transfer"] == {"status": "demo", "reason": "wants a person"}


async def test_lead_leg_dropping_before_the_answer_still_reports_the_transfer(job, livekit):
    """A successful REFER drops the lead's leg, which may close the session before LiveKit's
    answer arrives: the ended report waits for the answer."""
    gate = asyncio.Event()

    async def slow(_req):
        await gate.wait()

    livekit.hooks[("SIP", "TransferSIPParticipant")] = slow
    llm = ScriptedLLM([call("transfer_to_human", reason="asked")])
    row, runner = await sip_job(job, livekit, llm=llm)
    run = asyncio.ensure_future(runner.session.run(user_input=ASK))
    for _ in range(200):
        if livekit.calls("SIP", "TransferSIPParticipant"):
            break
        await asyncio.sleep(0.01)
    # The lead's leg went away: what the session's close handler does (RoomIO closes the
    # session when the linked participant disconnects).
    closing = asyncio.ensure_future(runner.hangup("CLIENT_INITIATED"))
    await asyncio.sleep(0.05)
    assert not runner.ended.is_set()  # the report waits for LiveKit's answer
    gate.set()
    await asyncio.wait_for(runner.ended.wait(), 5)
    await asyncio.gather(closing, run, return_exceptions=True)
    done = await get_call(row.id)
    assert done.outcome == "transferred"
