"""Compliance decisions: one row per gate decision, so "why was this number called (or
not)?" always has an answer."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index
from sqlmodel import Field, SQLModel

from nova.models.base import created_field, dt_field, id_field, json_field


class ComplianceDecision(SQLModel, table=True):
    __tablename__ = "compliance_decisions"
    __table_args__ = (
        Index("ix_compliance_decisions_owner_phone", "owner_id", "phone", "created_at"),
        Index("ix_compliance_decisions_owner_created", "owner_id", "created_at"),
    )

    id: str = id_field()
    # The account the dial was for ("" = anonymous demo).
    owner_id: str = Field(default="", max_length=36)
    # The call this decision let through or stopped (None when no call row exists, e.g. a
    # POST /calls batch refused with 400).
    call_id: str | None = Field(default=None, max_length=36, index=True)
    # Who asked: calls | portal | campaign; and their own reference (portal lead id, …).
    source: str = Field(max_length=16)
    lead_ref: str | None = Field(default=None, max_length=64)
    phone: str = Field(max_length=32)
    # allowed | deferred | blocked
    verdict: str = Field(max_length=16)
    # What decided it: window, cap, dnc, consent, timezone, demo, ok
    rule: str = Field(max_length=32)
    reason: str = Field(max_length=1000)
    country: str | None = Field(default=None, max_length=8)
    profile: str | None = Field(default=None, max_length=32)
    zones: list = json_field(default_factory=list)
    # Deferred: the first instant the dial may happen.
    not_before: datetime | None = dt_field()
    # Local time at the decision, the window, the consent record used, the caps counted.
    detail: dict = json_field()
    created_at: datetime = created_field()
