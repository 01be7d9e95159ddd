"""Per-call conversation state (the ``AgentSession`` userdata). Plain Python."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from nova.core import clock
from nova.telephony.metadata import DispatchMetadata

if TYPE_CHECKING:
    from nova.agent.reporting import Reporter

Phase = Literal["opening", "qualification", "objection_handling", "close", "ended"]
PHASES: tuple[Phase, ...] = ("opening", "qualification", "objection_handling", "close", "ended")

# Outcomes that mean the goal of the call was reached.
GOAL_OUTCOMES: dict[str, set[str]] = {
    "book_meeting": {"meeting_booked"},
    "qualify_interest": {"qualified", "not_qualified"},
    "collect_info": {"info_collected"},
    "close_sale": {"sale_closed"},
}
LINK_KIND = {"book_meeting": "booking", "close_sale": "payment"}


def norm_key(text: str) -> str:
    return re.sub(r"[^0-9a-z\u0600-\u06ff]+", "_", text.strip().lower()).strip("_")


@dataclass
class CallState:
    meta: DispatchMetadata
    reporter: Reporter | None = None
    phase: Phase = "opening"
    previous_phase: Phase = "opening"
    answers: dict[str, str] = field(default_factory=dict)
    collected: dict[str, str] = field(default_factory=dict)
    objections: list[str] = field(default_factory=list)
    outcome: str | None = None
    goal_completed: bool = False
    verdict: str | None = None
    notes: str | None = None
    sms_sent: bool = False
    opted_out: bool = False
    voicemail: bool = False
    end_reason: str | None = None
    hangup_requested: str | None = None
    started_at: float | None = None  # clock.monotonic() when the conversation began
    # Set by the job runner: ask it to hang up (it finalizes the reports, deletes the room).
    on_hangup: Callable[[str], Awaitable[None]] | None = None
    # Transfer to a person (nova.agent.transfer): the attempt's record, and the job's
    # HumanTransfer that carries it out (None in a bare session).
    transfer: dict[str, Any] | None = None
    transferrer: Any = None
    extra: dict[str, Any] = field(default_factory=dict)

    # --- derived ---------------------------------------------------------------------
    @property
    def goal(self) -> str:
        return self.meta.goal

    @property
    def link(self) -> str | None:
        if self.goal == "book_meeting":
            return self.meta.booking_link
        if self.goal == "close_sale":
            return self.meta.payment_link
        return None

    def remaining_questions(self) -> list[str]:
        asked = {norm_key(q) for q in self.answers}
        return [q for q in self.meta.brief.qualification_questions if norm_key(q) not in asked]

    def missing_fields(self) -> list[str]:
        have = {norm_key(k) for k in self.collected}
        return [f for f in self.meta.collect_fields if norm_key(f) not in have]

    def match_field(self, name: str) -> str | None:
        key = norm_key(name)
        for f in self.meta.collect_fields:
            if norm_key(f) == key:
                return f
        return None

    def elapsed_seconds(self) -> int:
        if self.started_at is None:
            return 0
        return max(0, round(clock.monotonic() - self.started_at))

    # --- phase machine ---------------------------------------------------------------
    def next_phase_after_answer(self) -> Phase:
        if self.goal == "collect_info":
            return "close" if not self.missing_fields() else "qualification"
        return "close" if not self.remaining_questions() else "qualification"

    def set_phase(self, phase: Phase) -> bool:
        """Move to ``phase``; returns True when it changed."""
        if phase == self.phase or self.phase == "ended":
            return False
        if phase == "objection_handling":
            self.previous_phase = (
                self.phase if self.phase != "objection_handling" else "qualification"
            )
        self.phase = phase
        return True

    def result_payload(self) -> dict[str, Any]:
        return {
            "answers": dict(self.answers),
            "collected": dict(self.collected),
            "verdict": self.verdict,
            "notes": self.notes,
            "outcome": self.outcome,
            "goal_completed": self.goal_completed,
            **({"transfer": dict(self.transfer)} if self.transfer else {}),
        }
