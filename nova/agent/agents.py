"""The sales agents: one ``Agent`` subclass per goal, driving the four phases.

    opening → qualification → objection handling (and back) → close (goal-specific)

The phase lives in the ``CallState`` (the session's userdata). Tools move it forward
(``record_answer``, ``handle_objection``, ``send_link_sms``, ``record_outcome``…) and the
``on_user_turn_completed`` hook moves it past the opening and back out of an objection.
Each change refreshes the agent's instructions with the new phase's directions; the
call-wide part of the prompt is built once.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from livekit.agents import Agent, llm

from nova.agent import prompts
from nova.agent.state import CallState, Phase
from nova.agent.tools import SalesTools, schedule

log = logging.getLogger("nova.agent")


class SalesAgent(SalesTools, Agent):
    goal: str = ""

    def __init__(self, state: CallState, *, voicemail_action: str = "hang_up", **kw: Any) -> None:
        self.state = state
        self.voicemail_action = voicemail_action
        self._base = prompts.base_instructions(state.meta)
        super().__init__(instructions=self._instructions(), **kw)

    def _instructions(self) -> str:
        s = self.state
        return prompts.instructions(s.meta, s.phase, s.remaining_questions(), base=self._base)

    async def goto(self, phase: Phase) -> None:
        """Enter ``phase`` and refresh the instructions (no-op when already there)."""
        if self.state.set_phase(phase):
            await self.update_instructions(self._instructions())

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

    async def on_user_turn_completed(
        self, turn_ctx: llm.ChatContext, new_message: llm.ChatMessage
    ) -> None:
        state = self.state
        if state.phase == "opening":
            await self.goto(state.next_phase_after_answer())
        elif state.phase == "objection_handling":
            # The objection was answered on the agent's last turn: resume where we were
            # (a lingering concern makes the model call handle_objection again).
            await self.goto(state.previous_phase)


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
    cls.goal: cls for cls in (BookMeetingAgent, CloseSaleAgent, QualifyInterestAgent, CollectInfoAgent)
}


def agent_for(state: CallState, **kw: Any) -> SalesAgent:
    return AGENTS[state.goal](state, **kw)
