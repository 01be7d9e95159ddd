"""The sales agents: one ``Agent`` subclass per goal, driving the four phases.

    opening → qualification → objection handling (and back) → close (goal-specific)

The phase lives in the ``CallState`` (the session's userdata). Tools move it forward
(``record_answer``, ``handle_objection``, ``send_link_sms``, ``record_outcome``…) and the
``llm_node`` hook moves it past the opening and back out of an objection when the lead
speaks.
Each change refreshes the agent's instructions with the new phase's directions; the
call-wide part of the prompt is built once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterable
from typing import Any

from livekit import rtc
from livekit.agents import Agent, ModelSettings, llm
from livekit.agents.voice.generation import update_instructions

from nova.agent import prompts
from nova.agent.state import CallState, Phase
from nova.agent.tools import SalesTools, schedule
from nova.agent.transfer import TransferTools

log = logging.getLogger("nova.agent")


class SalesAgent(SalesTools, TransferTools, Agent):
    goal: str = ""

    def __init__(self, state: CallState, *, voicemail_action: str = "hang_up", **kw: Any) -> None:
        self.state = state
        self.voicemail_action = voicemail_action
        self._base = prompts.base_instructions(state.meta)
        self.voice_started = asyncio.Event()  # the first text reached the TTS
        super().__init__(instructions=self._build_instructions(), **kw)

    def _build_instructions(self) -> str:
        s = self.state
        return prompts.instructions(s.meta, s.phase, s.remaining_questions(), base=self._base)

    async def goto(self, phase: Phase) -> None:
        """Enter ``phase`` and bring the agent's instructions up to date (tools call this
        while a reply runs, never while the lead's turn is being completed)."""
        self.state.set_phase(phase)
        text = self._build_instructions()
        if text != self.instructions:
            await self.update_instructions(text)

    async def voicemail_reached(self, session: Any, *, can_leave_message: bool = True) -> None:
        """A machine answered: the call ends as ``voicemail``, after the message when the
        account leaves one (and the mailbox takes one)."""
        state = self.state
        state.voicemail = True
        state.outcome = "voicemail"
        state.goal_completed = False
        state.end_reason = "voicemail"
        await self.goto("ended")
        handle = None
        if self.voicemail_action == "leave_message" and can_leave_message:
            handle = session.say(prompts.voicemail_message(state.meta), allow_interruptions=False)
        self.request_hangup("voicemail", after=handle)

    def request_hangup(self, reason: str, *, after: Any = None) -> None:
        """Hang up once ``after`` (a SpeechHandle) has played; handled by the job runner."""
        state = self.state
        if state.hangup_requested:
            return
        state.hangup_requested = reason

        async def _hangup() -> None:
            if after is not None:
                try:
                    await asyncio.wait_for(after.wait_for_playout(), timeout=20)
                except Exception:  # noqa: BLE001 - hang up regardless
                    log.debug("voicemail playout did not finish cleanly")
            if state.on_hangup is not None:
                await state.on_hangup(reason)

        schedule(_hangup())

    async def llm_node(
        self,
        chat_ctx: llm.ChatContext,
        tools: list[llm.Tool],
        model_settings: ModelSettings,
    ) -> AsyncIterable[llm.ChatChunk | str]:
        """Advance the phase when a new user turn starts a reply, then let the default node
        call the model. Runs for spoken and typed turns alike (``on_user_turn_completed``
        only fires for spoken ones).

        The request always carries the current phase's instructions, but the agent's own
        copy is left alone here: on audio, livekit starts this reply preemptively (on the
        final transcript, before the turn is confirmed) and throws it away, sending a
        second request, if the agent's chat context changed in between.
        """
        self._on_new_user_turn(chat_ctx)
        update_instructions(chat_ctx, instructions=self._build_instructions(), add_if_missing=True)
        async for chunk in Agent.default.llm_node(self, chat_ctx, tools, model_settings):
            yield chunk

    async def tts_node(
        self, text: AsyncIterable[str], model_settings: ModelSettings
    ) -> AsyncIterable[rtc.AudioFrame]:
        self.voice_started.set()
        async for frame in Agent.default.tts_node(self, text, model_settings):
            yield frame

    def _on_new_user_turn(self, chat_ctx: llm.ChatContext) -> bool:
        """Phase changes driven by the lead speaking; True when the phase changed."""
        last = next(
            (i for i in reversed(chat_ctx.items) if i.type in ("message", "function_call_output")),
            None,
        )
        if last is None or last.type != "message" or last.role != "user":
            return False  # a reply to tool results: not a new turn
        state = self.state
        if state.extra.get("last_user_item") == last.id:
            return False
        state.extra["last_user_item"] = last.id
        if state.phase == "opening":
            return state.set_phase(state.next_phase_after_answer())
        if state.phase == "objection_handling":
            # The objection was answered on the agent's last turn: resume where we were
            # (a lingering concern makes the model call handle_objection again).
            return state.set_phase(state.previous_phase)
        return False


class BookMeetingAgent(SalesAgent):
    goal = "book_meeting"


class CloseSaleAgent(SalesAgent):
    goal = "close_sale"


class QualifyInterestAgent(SalesAgent):
    goal = "qualify_interest"
    send_link_sms = None  # no link on this goal: the tool is not offered


class CollectInfoAgent(SalesAgent):
    goal = "collect_info"
    send_link_sms = None


AGENTS: dict[str, type[SalesAgent]] = {
    cls.goal: cls
    for cls in (BookMeetingAgent, CloseSaleAgent, QualifyInterestAgent, CollectInfoAgent)
}


def agent_for(state: CallState, **kw: Any) -> SalesAgent:
    return AGENTS[state.goal](state, **kw)
