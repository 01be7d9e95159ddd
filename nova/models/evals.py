"""Simulated calls (evals): custom personas, eval runs and their conversations.

An eval run is the brief under test plus a snapshot of the personas it was run against
(later edits of a custom persona never change what a finished run meant). Each
conversation is one simulated call of the real agent against one persona, with its
transcript, tool calls, the judge's score and the result of every expectation.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from nova.models.base import created_field, dt_field, id_field, json_field


class EvalPersona(SQLModel, table=True):
    """A persona an account wrote (the shipped ones live in ``nova/evals/personas.json``)."""

    __tablename__ = "eval_personas"

    id: str = id_field()
    user_id: str = Field(foreign_key="users.id", max_length=36, index=True)
    # The name used to pick it in POST /v1/evals, unique per account ("custom:<slug>").
    slug: str = Field(max_length=64)
    name: str = Field(max_length=200)
    description: str = Field(max_length=4000)
    goal: str = Field(max_length=2000)
    language: str = Field(default="en", max_length=8)
    # Fixed first lines of the lead, said before the persona LLM takes over.
    script: list = json_field(default_factory=list)
    expectations: list = json_field(default_factory=list)
    created_at: datetime = created_field()

    __table_args__ = (UniqueConstraint("user_id", "slug", name="uq_eval_personas_user_slug"),)


class EvalRun(SQLModel, table=True):
    __tablename__ = "eval_runs"

    id: str = id_field()
    user_id: str = Field(foreign_key="users.id", max_length=36)
    # queued → running → completed | failed
    status: str = Field(default="queued", max_length=16)
    # sha256 of the brief's inputs (what a campaign gate compares; see evals.service).
    brief_fingerprint: str = Field(max_length=64)
    goal: str = Field(max_length=32)
    language: str = Field(default="en", max_length=8)
    # The brief inputs as submitted, and the brief the agent was given (set when it runs).
    request: dict = json_field()
    brief: dict | None = json_field(default_factory=lambda: None, nullable=True)
    brief_source: str | None = Field(default=None, max_length=16)
    personas: list = json_field(default_factory=list)  # snapshots
    conversations_per_persona: int = 1
    max_turns: int = 10
    pass_threshold: float = 1.0
    # Set when completed: every persona's pass rate reached the threshold.
    passed: bool | None = None
    summary: dict = json_field()  # per persona pass rates, usage, cost, peak concurrency
    error: str | None = Field(default=None, max_length=2000)
    created_at: datetime = created_field()
    started_at: datetime | None = dt_field()
    finished_at: datetime | None = dt_field()

    __table_args__ = (
        Index("ix_eval_runs_user_created", "user_id", "created_at"),
        Index("ix_eval_runs_gate", "user_id", "brief_fingerprint", "passed"),
    )


class EvalConversation(SQLModel, table=True):
    __tablename__ = "eval_conversations"

    id: str = id_field()
    eval_id: str = Field(foreign_key="eval_runs.id", max_length=36, index=True)
    persona: str = Field(max_length=64)
    index: int = 0
    # pending → running → passed | failed | error
    status: str = Field(default="pending", max_length=16)
    turns: int = 0
    end_reason: str | None = Field(default=None, max_length=200)
    outcome: str | None = Field(default=None, max_length=64)
    transcript: list = json_field(default_factory=list)
    tool_calls: list = json_field(default_factory=list)
    checks: list = json_field(default_factory=list)
    score: dict | None = json_field(default_factory=lambda: None, nullable=True)
    usage: dict = json_field()
    error: str | None = Field(default=None, max_length=2000)
    duration_ms: int | None = None
    started_at: datetime | None = dt_field()
    finished_at: datetime | None = dt_field()

    __table_args__ = (UniqueConstraint("eval_id", "persona", "index", name="uq_eval_conv_slot"),)
