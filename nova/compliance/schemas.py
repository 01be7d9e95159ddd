"""Request and response shapes of the compliance API (decisions, do-not-call, profiles)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class LeadConsent(BaseModel):
    """A lead's consent to an automated call (required where the country's profile says so:
    US, UK and the default profile)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    source: str = Field(min_length=1, max_length=200, description="e.g. 'web form /pricing'")
    obtained_at: datetime = Field(description="When the lead gave it (ISO 8601 with zone)")
    proof: str | None = Field(
        default=None, max_length=1000, description="Where the evidence is: URL, record id…"
    )


class CheckOut(BaseModel):
    """What the gate decided (or, from ``/v1/compliance/check``, would decide now for a
    dial of this number by this account; nothing is recorded)."""

    phone: str
    verdict: Literal["allowed", "deferred", "blocked"]
    rule: str
    reason: str
    country: str | None
    profile: str | None
    zones: list[str]
    not_before: datetime | None
    detail: dict[str, Any]


class DecisionOut(CheckOut):
    """A recorded decision."""

    id: str
    call_id: str | None
    source: str
    lead_ref: str | None
    created_at: datetime


class DncIn(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    phone: str = Field(max_length=64, description="E.164, e.g. +971501234567")
    reason: str | None = Field(default=None, max_length=500)


class DncOut(BaseModel):
    phone: str
    source: str
    reason: str | None
    call_id: str | None
    created_at: datetime


class DncList(BaseModel):
    items: list[DncOut]
    total: int


class ImportProblem(BaseModel):
    row: int = Field(description="Record number in the file, the header being row 1")
    value: str
    status: Literal["rejected", "duplicate", "already_listed"]
    detail: str


class ImportReportOut(BaseModel):
    rows: int
    added: int
    already_listed: int
    duplicates: int
    rejected: int
    problems: list[ImportProblem]
    problems_truncated: bool


class WindowOut(BaseModel):
    days: list[str]
    start: str
    end: str


class CapOut(BaseModel):
    max: int
    per: str
    when: str


class ProfileOut(BaseModel):
    key: str
    name: str
    regions: list[str]
    area_codes: list[str]
    consent_required: bool
    windows: list[WindowOut]
    caps: list[CapOut]
    summary: str
    note: str
