"""The sales agent's tools: ``@function_tool`` methods the LLM calls during the call.

They live on a mixin so each goal's agent (``agents.py``) inherits the set it needs. The
docstrings are what the model reads. ``ToolError`` messages are what the model sees when a
tool refuses (say it differently, ask again); everything else is logged, never shown.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Literal

from livekit.agents import RunContext, ToolError, function_tool

from nova.agent import prompts
from nova.agent.reporting import ReportRejected
from nova.agent.state import GOAL_OUTCOMES, LINK_KIND, CallState, norm_key

if TYPE_CHECKING:
    pass

log = logging.getLogger("nova.agent.tools")

AgentOutcome = Literal[
    "meeting_booked",
    "qualified",
    "not_qualified",
    "info_collected",
    "sale_closed",
    "interested",
    "callback_requested",
    "not_interested",
]


def _best_handler(state: CallState, objection: str) -> str | None:
    words = set(norm_key(objection).split("_")) - {""}
    best, best_score = None, 0
    for item in state.meta.brief.objection_handlers:
        key = set(norm_key(item.get("objection", "")).split("_")) - {""}
        score = len(words & key)
        if score > best_score:
            best, best_score = item.get("response"), score
    return best


class SalesTools:
    """Tools shared by every goal's agent (``self`` is the ``SalesAgent``)."""

    @function_tool
    async def record_answer(self, ctx: RunContext[CallState], question: str, answer: str) -> str:
        """Record the lead's answer to a qualification question or a requested field.

        Args:
            question: The question asked, or the name of the field being collected.
            answer: The lead's answer, in their own words, summarised briefly.
        """
        state = ctx.userdata
        question, answer = question.strip(), answer.strip()
        if not question:
            raise ToolError("Say which question or field the answer is for.")
        if not answer:
            raise ToolError("The answer is empty: ask the question again.")
        state.answers[question[:200]] = answer[:1000]
        field = state.match_field(question)
        if field is not None:
            state.collected[field] = answer[:1000]
        await self.goto(state.next_phase_after_answer())
        if state.goal == "collect_info":
            missing = state.missing_fields()
            if missing:
                return "Recorded. Still needed: " + ", ".join(missing)
            return "Recorded. Every field is captured: confirm them and record the outcome."
        remaining = state.remaining_questions()
        if remaining:
            return "Recorded. Next question: " + remaining[0]
        return "Recorded. All questions are answered: move to the close."

    @function_tool
    async def handle_objection(self, ctx: RunContext[CallState], objection: str) -> str:
        """Look up the suggested response when the lead raises an objection or concern.

        Args:
            objection: The lead's objection in a few words (price, timing, competitor...).
        """
        state = ctx.userdata
        state.objections.append(objection.strip()[:300])
        await self.goto("objection_handling")
        response = _best_handler(state, objection)
        if response:
            return f"Suggested response: {response}"
        return "No prepared response: acknowledge the concern and answer it with the product facts."

    @function_tool
    async def record_outcome(
        self,
        ctx: RunContext[CallState],
        outcome: AgentOutcome,
        goal_completed: bool,
        notes: str = "",
    ) -> str:
        """Record how the call ended up: the outcome and whether the call's goal was reached.

        Args:
            outcome: The result of the conversation.
            goal_completed: True only when the goal of this call was reached.
            notes: One short line explaining the outcome (the verdict's reason).
        """
        state = ctx.userdata
        goal_outcomes = GOAL_OUTCOMES[state.goal]
        if goal_completed and outcome not in goal_outcomes:
            raise ToolError(
                f"goal_completed can only be true with outcome {' or '.join(sorted(goal_outcomes))}."
            )
        if goal_completed:
            if state.goal == "collect_info" and state.missing_fields():
                raise ToolError(
                    "Not every field is captured yet: " + ", ".join(state.missing_fields())
                )
            if state.goal in LINK_KIND and not state.sms_sent:
                raise ToolError(f"Send the {LINK_KIND[state.goal]} link with send_link_sms first.")
            if state.goal == "qualify_interest" and not state.answers:
                raise ToolError("Record the qualification answers with record_answer first.")
        state.outcome = outcome
        state.goal_completed = bool(goal_completed and outcome in goal_outcomes)
        if outcome in ("qualified", "not_qualified"):
            state.verdict = outcome
        state.notes = notes.strip()[:500] or None
        await self.goto("close")
        if state.reporter is not None:
            try:
                await state.reporter.send("result", state.result_payload())
            except ReportRejected as exc:  # recorded again with the ended report
                log.warning("result report failed: %s", exc)
        return "Outcome recorded. Wrap up politely, say goodbye and call end_call."

    @function_tool
    async def send_link_sms(self, ctx: RunContext[CallState]) -> str:
        """Send the booking or payment link to the lead's phone by SMS (ask them first)."""
        state = ctx.userdata
        kind = LINK_KIND.get(state.goal)
        if kind is None or not state.link:
            raise ToolError("There is no link to send on this call.")
        if state.sms_sent:
            return "The link was already sent by SMS."
        if state.reporter is None:
            raise ToolError("Text messages are unavailable: offer to read the link out instead.")
        try:
            await state.reporter.send(
                "sms",
                {
                    "link_kind": kind,
                    "url": state.link,
                    "text": prompts.sms_text(state.meta, kind, state.link),
                },
            )
        except ReportRejected as exc:
            log.warning("sms for call %s failed: %s", state.meta.call_id, exc)
            raise ToolError(
                "The text message could not be sent right now. Apologise and offer to read "
                "the link out or e-mail it instead."
            ) from exc
        state.sms_sent = True
        await self.goto("close")
        return f"The {kind} link was sent to the lead's phone by SMS."

    @function_tool
    async def opt_out(self, ctx: RunContext[CallState], reason: str = "") -> str:
        """Put the lead on the do-not-call list when they ask not to be contacted again.

        Args:
            reason: What the lead said, briefly.
        """
        state = ctx.userdata
        state.opted_out = True
        state.outcome = "opted_out"
        state.goal_completed = False
        if state.reporter is not None:
            try:
                await state.reporter.send("opt_out", {"reason": reason.strip()[:500]})
            except ReportRejected as exc:  # the ended report carries it again
                log.warning("opt_out report failed: %s", exc)
        await self.goto("close")
        return (
            "Done: they will not be called again. Apologise for the interruption, confirm it "
            "briefly, say goodbye and call end_call."
        )

    @function_tool
    async def end_call(self, ctx: RunContext[CallState], reason: str = "completed") -> None:
        """Hang up. Call this only after you have said goodbye.

        Args:
            reason: Why the call ends (completed, lead busy, not interested...).
        """
        state = ctx.userdata
        state.end_reason = reason.strip()[:200] or "completed"
        await ctx.wait_for_playout()
        self.request_hangup(state.end_reason)
        return None

    @function_tool
    async def detected_answering_machine(self, ctx: RunContext[CallState]) -> None:
        """Call this when a voicemail greeting or an answering machine picked up, not a person."""
        await self.voicemail_reached(ctx.session)
        return None


def schedule(coro) -> asyncio.Task:
    task = asyncio.get_running_loop().create_task(coro)
    _background.add(task)
    task.add_done_callback(_background.discard)
    return task


_background: set[asyncio.Task] = set()
