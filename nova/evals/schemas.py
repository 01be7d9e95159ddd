"""Request and response shapes of /v1/evals."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from nova.evals.personas import SLUG, Expectation
from nova.telephony.metadata import Goal, Language

EvalStatus = Literal["queued", "running", "completed", "failed"]
ConversationStatus = Literal["pending", "running", "passed", "failed", "error"]


class SampleLead(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str | None = Field(default="Sam Taylor", max_length=200)
    company: str | None = Field(default=None, max_length=200)
    title: str | None = Field(default=None, max_length=200)


class EvalCreate(BaseModel):
    """The brief under test (the same inputs as POST /calls) and how to test it."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    product: str = Field(min_length=1, max_length=500)
    context: str | None = Field(default=None, max_length=10_000)
    goal: Goal
    language: Language = "en"
    booking_link: str | None = Field(default=None, max_length=2048)
    payment_link: str | None = Field(default=None, max_length=2048)
    pricing_summary: str | None = Field(default=None, max_length=2000)
    urgency_hook: str | None = Field(default=None, max_length=2000)
    goal_criteria: str | None = Field(default=None, max_length=2000)
    collect_fields: list[str] | None = Field(default=None, max_length=20)
    lead: SampleLead = Field(default_factory=SampleLead)
    personas: list[str] | None = Field(
        default=None,
        max_length=30,
        description="Shipped persona ids and your own as custom:<slug>; default: every shipped one",
    )
    conversations_per_persona: int = Field(default=1, ge=1, le=10)
    max_turns: int = Field(default=10, ge=1, le=30, description="Lead turns per conversation")
    pass_threshold: float = Field(
        default=1.0, ge=0, le=1, description="Pass rate every persona must reach"
    )


class PersonaCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    slug: str = Field(pattern=SLUG, description="Pick it in POST /v1/evals as custom:<slug>")
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(min_length=1, max_length=4000, description="Who the lead is")
    goal: str = Field(min_length=1, max_length=2000, description="What they want from the call")
    language: Language = "en"
    script: list[str] = Field(default_factory=list, max_length=10)
    expectations: list[Expectation] | None = Field(
        default=None, max_length=20, description="Default: AI disclosed, facts only, ends politely"
    )


class PersonaOut(BaseModel):
    id: str
    name: str
    description: str
    goal: str
    language: str
    script: list[str] = Field(default_factory=list)
    expectations: list[dict[str, Any]]
    custom: bool


class CheckOut(BaseModel):
    kind: str
    label: str
    passed: bool
    explanation: str


class ConversationOut(BaseModel):
    id: str
    persona: str
    index: int
    status: ConversationStatus
    turns: int
    end_reason: str | None = None
    outcome: str | None = None
    transcript: list[dict[str, Any]] = Field(default_factory=list)
    tool_calls: list[dict[str, Any]] = Field(default_factory=list)
    checks: list[CheckOut] = Field(default_factory=list)
    score: dict[str, Any] | None = None
    usage: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    duration_ms: int | None = None


class Failure(BaseModel):
    conversation_id: str
    index: int
    check: str
    explanation: str


class PersonaResult(BaseModel):
    persona: str
    name: str
    conversations: int
    finished: int
    passed: int
    failed: int
    errors: int
    pass_rate: float | None = None
    meets_threshold: bool | None = None
    failures: list[Failure] = Field(default_factory=list)


class Progress(BaseModel):
    total: int
    finished: int
    running: int
    pending: int


class Usage(BaseModel):
    input_tokens: int = 0
    output_tokens: int = 0
    by_role: dict[str, dict[str, int]] = Field(default_factory=dict)
    llm_cost_usd: float = 0.0
    billed_minutes: int = Field(default=0, description="Always 0: simulations are not billed")
    simulated_talk_minutes: float = 0.0


class EvalOut(BaseModel):
    id: str
    status: EvalStatus
    passed: bool | None = None
    brief_fingerprint: str
    goal: str
    language: str
    product: str
    conversations_per_persona: int
    max_turns: int
    pass_threshold: float
    progress: Progress
    personas: list[PersonaResult]
    usage: Usage
    brief: dict[str, Any] | None = None
    brief_source: str | None = None
    peak_concurrency: int | None = None
    error: str | None = None
    created_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    conversations: list[ConversationOut] | None = None


class EvalSummaryOut(BaseModel):
    id: str
    status: EvalStatus
    passed: bool | None = None
    product: str
    goal: str
    brief_fingerprint: str
    created_at: datetime
    finished_at: datetime | None = None
