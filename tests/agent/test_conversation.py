"""The four phases and each goal's close, in text mode: a real AgentSession, a scripted LLM,
and the tools reporting to the real control plane endpoint (in-process)."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from nova.agent import prompts
from nova.agent.agents import agent_for
from nova.agent.reporting import Reporter
from nova.agent.scripted import ScriptedLLM, call
from nova.agent.server import build_session, build_stt, build_tts, tts_voice
from nova.agent.state import CallState
from nova.core.db import session_scope
from nova.models.worker import DoNotCall
from tests.telephony.factories import BRIEF, create_call, get_call, meta_for


@pytest.fixture
def reporter_factory(app, settings):
    made: list[Reporter] = []

    def make(call_id: str) -> Reporter:
        r = Reporter(
            settings,
            call_id,
            "http://testserver/internal/worker",
            transport=httpx.ASGITransport(app=app),
            retry_delay=0,
        )
        made.append(r)
        return r

    yield make


class Convo:
    def __init__(self, session, agent, state, llm, call):
        self.session, self.agent, self.state, self.llm, self.call = session, agent, state, llm, call

    def instructions(self) -> str:
        return (
            self.agent.instructions
            if isinstance(self.agent.instructions, str)
            else str(self.agent.instructions)
        )


@pytest.fixture
async def convo(settings, reporter_factory):
    sessions = []

    async def start(goal: str, script=(), *, language: str = "en", report: bool = True) -> Convo:
        call_row = await create_call(goal=goal)
        meta = meta_for(call_row, language=language)
        state = CallState(meta=meta, reporter=reporter_factory(call_row.id) if report else None)
        llm = ScriptedLLM(script)
        session = build_session(settings, meta, state, llm=llm, text_only=True)
        agent = agent_for(state)
        await session.start(agent)
        sessions.append(session)
        return Convo(session, agent, state, llm, call_row)

    yield start
    for s in sessions:
        await s.aclose()


async def test_opening_to_qualification_records_answers_in_order(convo):
    c = await convo(
        "book_meeting",
        [
            "Great. What is your budget?",
            call("record_answer", question="What is your budget?", answer="About 1.5M AED"),
            "Thanks. When do you plan to buy?",
        ],
    )
    assert c.state.phase == "opening"
    r = await c.session.run(user_input="Yes, I have a minute.")
    r.expect.next_event().is_message(role="assistant")
    r.expect.no_more_events()
    assert c.state.phase == "qualification"
    # The reply was generated with the qualification directions already in place.
    assert "Phase 2 — qualification" in c.llm.requests[0].items[0].text_content

    r = await c.session.run(user_input="Around one and a half million.")
    r.expect.next_event().is_function_call(
        name="record_answer",
        arguments={"question": "What is your budget?", "answer": "About 1.5M AED"},
    )
    r.expect.next_event().is_function_call_output(
        output="Recorded. Next question: When do you plan to buy?"
    )
    r.expect.next_event().is_message(role="assistant")
    r.expect.no_more_events()
    assert c.state.answers == {"What is your budget?": "About 1.5M AED"}
    assert c.state.remaining_questions() == ["When do you plan to buy?"]


async def test_last_answer_moves_to_close(convo):
    c = await convo(
        "book_meeting",
        [
            "What is your budget?",
            [
                call("record_answer", question="What is your budget?", answer="1M"),
                call("record_answer", question="When do you plan to buy?", answer="This year"),
            ],
            "Shall I send you the booking link?",
        ],
    )
    await c.session.run(user_input="Sure")
    r = await c.session.run(user_input="1M, and this year")
    r.expect.skip_next(2)
    r.expect.next_event().is_function_call_output()
    r.expect.next_event().is_function_call_output(
        output="Recorded. All questions are answered: move to the close."
    )
    assert c.state.phase == "close"
    assert "Phase 4 — close" in c.instructions()
    assert prompts.GOAL_CLOSE_EN["book_meeting"] in c.instructions()


async def test_objection_handling_uses_brief_and_returns_to_previous_phase(convo):
    c = await convo(
        "close_sale",
        [
            "What is your budget?",
            call("handle_objection", objection="it is too expensive"),
            "I hear you. Payment plans start at 1% a month.",
            "Great, so what budget works?",
        ],
    )
    await c.session.run(user_input="Okay")
    assert c.state.phase == "qualification"
    r = await c.session.run(user_input="Honestly the price is too expensive for me")
    r.expect.next_event().is_function_call(name="handle_objection")
    r.expect.next_event().is_function_call_output(
        output="Suggested response: Payment plans start at 1% a month."
    )
    r.expect.next_event().is_message(role="assistant")
    assert c.state.phase == "objection_handling"
    assert "Phase 3 — objection handling" in c.instructions()
    await c.session.run(user_input="Okay, that sounds better")
    assert c.state.phase == "qualification"
    assert c.state.objections == ["it is too expensive"]


async def test_book_meeting_close_sends_link_by_sms_and_completes(convo, twilio):
    c = await convo(
        "book_meeting",
        [
            call("send_link_sms"),
            "I've texted you the booking link.",
            call(
                "record_outcome",
                outcome="meeting_booked",
                goal_completed=True,
                notes="Viewing on Friday",
            ),
            "Wonderful, see you Friday!",
        ],
    )
    r = await c.session.run(user_input="Yes please send me the link")
    r.expect.next_event().is_function_call(name="send_link_sms")
    r.expect.next_event().is_function_call_output(
        output="The booking link was sent to the lead's phone by SMS."
    )
    r.expect.next_event().is_message(role="assistant")
    [sms] = twilio.messages
    assert sms["To"] == "+971501234567"
    assert sms["Body"] == "Your booking link for Marina towers: https://cal.example.com/acme"
    assert (await get_call(c.call.id)).sms_sent is True

    r = await c.session.run(user_input="Book me for Friday")
    r.expect.next_event().is_function_call(name="record_outcome")
    r.expect.next_event().is_function_call_output(
        output="Outcome recorded. Wrap up politely, say goodbye and call end_call."
    )
    assert (c.state.outcome, c.state.goal_completed, c.state.phase) == (
        "meeting_booked",
        True,
        "close",
    )
    row = await get_call(c.call.id)
    assert row.result["outcome"] == "meeting_booked" and row.result["notes"] == "Viewing on Friday"


async def test_close_sale_requires_the_payment_link_first_and_sms_errors_are_tool_errors(
    convo, settings
):
    c = await convo(
        "close_sale",
        [
            call("record_outcome", outcome="sale_closed", goal_completed=True),
            "Let me send you the payment link first.",
            call("send_link_sms"),
            "Sorry, I could not text it. The link is pay dot example dot com.",
        ],
    )
    r = await c.session.run(user_input="I'll buy it")
    r.expect.next_event().is_function_call(name="record_outcome")
    out = r.expect.next_event().is_function_call_output().event().item
    assert out.is_error and out.output == "Send the payment link with send_link_sms first."
    assert c.state.goal_completed is False and c.state.outcome is None

    # Twilio is not configured: the control plane answers 503 and the model sees a ToolError.
    r = await c.session.run(user_input="ok send it")
    r.expect.next_event().is_function_call(name="send_link_sms")
    out = r.expect.next_event().is_function_call_output().event().item
    assert out.is_error and "could not be sent" in out.output
    assert c.state.sms_sent is False
    assert (await get_call(c.call.id)).sms_sent is False


async def test_qualify_interest_records_answers_and_a_verdict(convo):
    c = await convo(
        "qualify_interest",
        [
            [
                call("record_answer", question="What is your budget?", answer="2M"),
                call("record_answer", question="When do you plan to buy?", answer="Next month"),
            ],
            call(
                "record_outcome",
                outcome="qualified",
                goal_completed=True,
                notes="Budget and timeline fit",
            ),
            "Thanks Sam, a colleague will follow up.",
        ],
    )
    # No link on this goal: the SMS tool is not even offered to the model.
    r = await c.session.run(user_input="Budget 2M, buying next month")
    assert "send_link_sms" not in c.llm.tools_offered[0]
    assert {
        "record_answer",
        "record_outcome",
        "opt_out",
        "end_call",
        "handle_objection",
        "detected_answering_machine",
    } <= set(c.llm.tools_offered[0])
    r.expect.contains_function_call(
        name="record_outcome",
        arguments={
            "outcome": "qualified",
            "goal_completed": True,
            "notes": "Budget and timeline fit",
        },
    )
    assert (c.state.verdict, c.state.goal_completed) == ("qualified", True)
    row = await get_call(c.call.id)
    assert row.result["verdict"] == "qualified"
    assert row.result["answers"] == {
        "What is your budget?": "2M",
        "When do you plan to buy?": "Next month",
    }


async def test_qualify_interest_verdict_needs_answers(convo):
    c = await convo(
        "qualify_interest",
        [call("record_outcome", outcome="not_qualified", goal_completed=True), "ok"],
    )
    r = await c.session.run(user_input="not interested in answering")
    out = r.expect[1].is_function_call_output().event().item
    assert out.is_error and "record_answer" in out.output


async def test_collect_info_needs_every_field(convo):
    c = await convo(
        "collect_info",
        [
            call("record_answer", question="Email", answer="sam@globex.com"),
            call("record_outcome", outcome="info_collected", goal_completed=True),
            "And how many people work at Globex?",
            call("record_answer", question="company size", answer="50"),
            call("record_outcome", outcome="info_collected", goal_completed=True),
            "Thank you!",
        ],
    )
    r = await c.session.run(user_input="sam@globex.com")
    r.expect.next_event().is_function_call(name="record_answer")
    r.expect.next_event().is_function_call_output(output="Recorded. Still needed: company size")
    r.expect.next_event().is_function_call(name="record_outcome")
    out = r.expect.next_event().is_function_call_output().event().item
    assert out.is_error and out.output == "Not every field is captured yet: company size"
    r = await c.session.run(user_input="about 50 people")
    r.expect.next_event().is_function_call(name="record_answer")
    r.expect.next_event().is_function_call_output(
        output="Recorded. Every field is captured: confirm them and record the outcome."
    )
    assert c.state.collected == {"email": "sam@globex.com", "company size": "50"}
    assert c.state.goal_completed is True and c.state.outcome == "info_collected"


async def test_goal_completed_needs_a_goal_outcome_and_empty_answers_are_refused(convo):
    c = await convo(
        "book_meeting",
        [
            call("record_outcome", outcome="interested", goal_completed=True),
            call("record_answer", question="What is your budget?", answer="  "),
            "Sorry, could you repeat your budget?",
        ],
    )
    r = await c.session.run(user_input="sounds interesting")
    out = r.expect[1].is_function_call_output().event().item
    assert out.is_error and "meeting_booked" in out.output
    out = r.expect[3].is_function_call_output().event().item
    assert out.is_error and out.output == "The answer is empty: ask the question again."
    assert c.state.answers == {}


async def test_opt_out_puts_the_number_on_do_not_call(convo):
    c = await convo(
        "book_meeting",
        [
            call("opt_out", reason="asked not to be called"),
            "Understood, we won't call again. Goodbye.",
            call("end_call", reason="opted out"),
        ],
    )
    r = await c.session.run(user_input="Please stop calling me and remove my number")
    r.expect.next_event().is_function_call(name="opt_out")
    assert (
        "will not be called again"
        in r.expect.next_event().is_function_call_output().event().item.output
    )
    assert c.state.opted_out and c.state.outcome == "opted_out"
    async with session_scope() as s:
        rows = (await s.scalars(select(DoNotCall))).all()
    assert [(d.phone, d.call_id, d.reason) for d in rows] == [
        ("+971501234567", c.call.id, "asked not to be called")
    ]
    r = await c.session.run(user_input="bye")
    r.expect.next_event().is_function_call(name="end_call", arguments={"reason": "opted out"})
    assert c.state.hangup_requested == "opted out"


async def test_sms_gateway_failure_is_seen_by_the_model(convo, twilio):
    """Twilio refuses the message: the real tool reports to the real control plane, which
    gets Twilio's error through the Twilio SDK; the model is told, and answers without it."""
    twilio.fail_with = (400, 21610, "Attempt to send to unsubscribed recipient")
    c = await convo("book_meeting", [call("send_link_sms"), "Sorry, I will read it out."])
    r = await c.session.run(user_input="text me the link")
    r.expect.next_event().is_function_call(name="send_link_sms")
    out = r.expect.next_event().is_function_call_output().event().item
    assert out.is_error and "could not be sent" in out.output
    r.expect.next_event().is_message(role="assistant")
    r.expect.no_more_events()
    # The model's next request carries the error it has to handle.
    assert "could not be sent" in str(c.llm.requests[-1].items[-1].output)
    [attempt] = twilio.attempts  # the request reached Twilio, which refused it
    assert attempt["To"] == "+971501234567"
    assert twilio.messages == [] and c.state.sms_sent is False
    assert (await get_call(c.call.id)).sms_sent is False


async def test_arabic_brief_selects_arabic_prompt_stt_and_voice(convo, settings, openai_fake):
    settings.agent_tts_voice = "alloy"
    settings.agent_tts_voice_ar = "shimmer"
    c = await convo("book_meeting", ["أهلاً"], language="ar-AE")
    text = c.instructions()
    assert "باللهجة الخليجية الإماراتية" in text
    assert "الأسئلة المتبقية: كم ميزانيتك؟" in text
    assert "You are a friendly" not in text
    meta = c.state.meta
    stt = build_stt(settings, meta)
    assert stt._opts.languages == ["ar"]
    assert tts_voice(settings, meta) == "shimmer"
    assert build_tts(settings, meta)._opts.voice == "shimmer"
    en_meta = meta.model_copy(update={"language": "en", "brief": BRIEF})
    assert build_stt(settings, en_meta)._opts.languages == ["en"]
    assert tts_voice(settings, en_meta) == "alloy"
    assert "You are a friendly" in prompts.base_instructions(en_meta)
    assert prompts.voicemail_message(meta).startswith("مرحباً Sam، هذه رسالة")
    # A cloned voice on the dispatch wins over the defaults.
    assert tts_voice(settings, meta.model_copy(update={"voice_id": "voice-123"})) == "voice-123"


async def test_outcome_is_kept_when_the_control_plane_is_down(convo, settings):
    class Down(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request):
            return httpx.Response(503, json={"detail": "maintenance"})

    c = await convo(
        "qualify_interest",
        [
            call("record_answer", question="What is your budget?", answer="2M"),
            call("record_outcome", outcome="qualified", goal_completed=True),
            "Thanks!",
        ],
    )
    c.state.reporter = Reporter(
        settings, c.call.id, "http://testserver/internal/worker", transport=Down(), retry_delay=0
    )
    r = await c.session.run(user_input="2M")
    r.expect.contains_function_call_output(
        output="Outcome recorded. Wrap up politely, say goodbye and call end_call."
    )
    assert (c.state.outcome, c.state.goal_completed) == ("qualified", True)  # sent again at the end
    await c.state.reporter.aclose()
