"""Calls and their briefs (call contexts)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from nova.models.base import created_field, dt_field, id_field, json_field


class CallContext(SQLModel, table=True):
    """The per-lead brief handed to the agent (``GET /contexts/{id}``)."""

    __tablename__ = "call_contexts"

    id: str = id_field()
    user_id: str | None = Field(default=None, foreign_key="users.id", max_length=36, index=True)
    batch_id: str = Field(max_length=36, index=True)
    product: str = Field(max_length=500)
    goal: str = Field(max_length=32)
    language: str = Field(default="en", max_length=8)
    lead: dict = json_field()
    # Call settings the brief was built from (links, refinements, website, free text).
    request: dict = json_field()
    agent_instructions: str = ""
    opening_line: str = ""
    qualification_questions: list = json_field(default_factory=list)
    objection_handlers: list = json_field(default_factory=list)
    closing_script: str = ""
    product_facts: list = json_field(default_factory=list)
    # "llm" or "template", and why a template was used when it was.
    source: str = Field(default="template", max_length=16)
    source_note: str | None = Field(default=None, max_length=500)
    created_at: datetime = created_field()


class Call(SQLModel, table=True):
    """One agent conversation with one lead. Durable; the job view has a TTL."""

    __tablename__ = "calls"
    # The compliance gate's frequency caps read an account's recent calls to a number.
    __table_args__ = (Index("ix_calls_user_phone_created", "user_id", "phone", "created_at"),)

    id: str = id_field()
    user_id: str | None = Field(default=None, foreign_key="users.id", max_length=36, index=True)
    batch_id: str = Field(max_length=36, index=True)
    context_id: str = Field(foreign_key="call_contexts.id", max_length=36, index=True)
    phone: str = Field(max_length=32)
    lead_name: str | None = Field(default=None, max_length=200)
    owner_email: str = Field(max_length=320)
    goal: str = Field(max_length=32)
    language: str = Field(default="en", max_length=8)
    # demo (browser test caller) | sip (dial the lead)
    mode: str = Field(default="demo", max_length=8)
    # pending → in_progress → completed | failed
    status: str = Field(default="pending", max_length=16, index=True)
    error: str | None = Field(default=None, max_length=1000)
    message: str | None = Field(default=None, max_length=500)
    room_name: str = Field(max_length=128, index=True)
    dispatch_id: str | None = Field(default=None, max_length=128)
    sms_sent: bool = False
    reserved_seconds: int = 0
    # The longest the agent may talk (the worker's watchdog ends the call then); the
    # reconciler ends a call still in progress after this plus a grace period.
    max_duration_seconds: int | None = None
    # Deferred by the compliance gate: not dialed before this instant.
    not_before: datetime | None = dt_field()
    started_at: datetime | None = dt_field()
    ended_at: datetime | None = dt_field()
    duration_seconds: int | None = None
    outcome: str | None = Field(default=None, max_length=64)
    goal_completed: bool | None = None
    end_reason: str | None = Field(default=None, max_length=200)
    transcript: list | None = json_field(default_factory=lambda: None, nullable=True)
    result: dict = json_field()
    created_at: datetime = created_field()

    __table_args__ = (Index("ix_calls_status_started", "status", "started_at"),)
