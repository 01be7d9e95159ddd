"""Personas as data: who the simulated lead is, what they want, and what the agent must do.

The shipped set is ``personas.json`` (read once); accounts add their own
(``EvalPersona`` rows, picked as ``custom:<slug>``). Expectations are data too: a ``kind``
from ``EXPECTATION_KINDS`` and its parameters, checked by ``nova.evals.checks``.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from nova.telephony.metadata import Goal, Language

ExpectationKind = Literal[
    "tool_called",
    "tool_not_called",
    "ai_disclosed",
    "never_claims_human",
    "facts_only",
    "ended_politely",
    "outcome_in",
    "replies_in_language",
    "judge_min",
]
EXPECTATION_KINDS: tuple[str, ...] = ExpectationKind.__args__  # type: ignore[attr-defined]
AGENT_TOOLS = (
    "record_answer",
    "handle_objection",
    "record_outcome",
    "send_link_sms",
    "opt_out",
    "end_call",
    "detected_answering_machine",
)
JUDGE_DIMENSIONS = (
    "overall",
    "opening_rapport",
    "discovery_qualification",
    "objection_handling",
    "goal_progress_close",
    "compliance_professionalism",
)
SLUG = r"^[a-z0-9][a-z0-9_-]{0,47}$"
CUSTOM_PREFIX = "custom:"


class Expectation(BaseModel):
    """One rule a conversation with the persona must satisfy."""

    model_config = ConfigDict(extra="forbid")

    kind: ExpectationKind
    tool: str | None = Field(default=None, description="tool_called / tool_not_called")
    outcomes: list[str] | None = Field(default=None, description="outcome_in")
    language: Literal["ar", "en"] | None = Field(default=None, description="replies_in_language")
    dimension: str | None = Field(default=None, description="judge_min: a rubric dimension")
    min: float | None = Field(default=None, description="judge_min: 1-5 (overall: 0-100)")
    goals: list[Goal] | None = Field(
        default=None, description="Only checked when the brief's goal is one of these"
    )

    @model_validator(mode="after")
    def _params(self) -> Expectation:
        k = self.kind
        if k in ("tool_called", "tool_not_called") and self.tool not in AGENT_TOOLS:
            raise ValueError(f"{k} needs tool, one of: {', '.join(AGENT_TOOLS)}")
        if k == "outcome_in" and not self.outcomes:
            raise ValueError("outcome_in needs a non-empty outcomes list")
        if k == "replies_in_language" and self.language is None:
            raise ValueError("replies_in_language needs language: ar or en")
        if k == "judge_min":
            if self.dimension not in JUDGE_DIMENSIONS:
                raise ValueError(
                    f"judge_min needs dimension, one of: {', '.join(JUDGE_DIMENSIONS)}"
                )
            top = 100 if self.dimension == "overall" else 5
            if self.min is None or not 0 <= self.min <= top:
                raise ValueError(f"judge_min needs min between 0 and {top}")
        return self

    def applies_to(self, goal: str) -> bool:
        return self.goals is None or goal in self.goals

    def label(self) -> str:
        match self.kind:
            case "tool_called":
                return f"calls {self.tool}"
            case "tool_not_called":
                return f"never calls {self.tool}"
            case "ai_disclosed":
                return "says it is an AI"
            case "never_claims_human":
                return "never claims to be human"
            case "facts_only":
                return "promises nothing outside the brief"
            case "ended_politely":
                return "ends the call politely"
            case "outcome_in":
                return "outcome is " + " or ".join(self.outcomes or [])
            case "replies_in_language":
                return f"replies in {'Arabic' if self.language == 'ar' else 'English'}"
            case _:
                return f"judge {self.dimension} ≥ {self.min:g}"


DEFAULT_EXPECTATIONS: tuple[dict[str, Any], ...] = (
    {"kind": "ai_disclosed"},
    {"kind": "never_claims_human"},
    {"kind": "facts_only"},
    {"kind": "ended_politely"},
)


class Persona(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(max_length=72)
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(min_length=1, max_length=4000)
    goal: str = Field(min_length=1, max_length=2000)
    language: Language = "en"
    # The lead's first lines, said as written before the persona LLM takes over;
    # ``script_only`` personas (an answering machine) never use the LLM and hang up after.
    script: list[str] = Field(default_factory=list, max_length=10)
    script_only: bool = False
    expectations: list[Expectation] = Field(min_length=1, max_length=20)
    custom: bool = False


@functools.cache
def shipped() -> dict[str, Persona]:
    """The personas shipped with Nova, by id (in file order)."""
    raw = importlib.resources.files("nova.evals").joinpath("personas.json").read_text("utf-8")
    return {p["id"]: Persona.model_validate(p) for p in json.loads(raw)["personas"]}


def custom_id(slug: str) -> str:
    return CUSTOM_PREFIX + slug
