"""Request and response shapes of POST /calls, GET /calls/{id}, GET /contexts/{id}, POST /token.

The request model is deliberately lenient about *shape* (lists of any length, optional
strings): every business rule of the reference (consent, 1–5 leads, E.164, duplicates,
goal links) is checked by ``nova.calls.service.validate_batch`` so each failure gets a
precise 400 detail instead of a generic schema error.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from nova.compliance.schemas import LeadConsent
from nova.core.phone import E164_PATTERN
from nova.telephony.metadata import Goal, Language

CallStatus = Literal["pending", "in_progress", "completed", "failed"]
GOALS: tuple[str, ...] = ("book_meeting", "qualify_interest", "collect_info", "close_sale")
LANGUAGES: tuple[str, ...] = ("en", "ar-AE")
MAX_LEADS = 5


class LeadIn(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    phone: str = Field(
        description="E.164, e.g. +971501234567 (and a valid number for its country)",
        json_schema_extra={"pattern": E164_PATTERN},
    )
    name: str | None = Field(default=None, max_length=200)
    company: str | None = Field(default=None, max_length=200)
    email: str | None = Field(default=None, max_length=320)
    title: str | None = Field(default=None, max_length=200)
    timezone: str | None = Field(
        default=None,
        max_length=64,
        description="The lead's IANA time zone; overrides the zones derived from the number",
    )
    consent: LeadConsent | None = Field(
        default=None, description="The lead's consent record (required for US/UK numbers)"
    )


class CallBatchRequest(BaseModel):
    """The body of POST /calls (see the reference's Calls section)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    owner_email: str = Field(
        max_length=320,
        description="Where call result briefs are sent",
        json_schema_extra={"format": "email"},
    )
    leads: list[LeadIn] = Field(
        description="1–5 leads; phones in E.164, no duplicates",
        json_schema_extra={"minItems": 1, "maxItems": MAX_LEADS},
    )
    product: str = Field(max_length=500, description="What you're selling")
    website_url: str | None = Field(default=None, max_length=2048)
    context: str | None = Field(default=None, max_length=10_000)
    goal: Goal
    language: Language = "en"
    booking_link: str | None = Field(default=None, max_length=2048)
    payment_link: str | None = Field(default=None, max_length=2048)
    pricing_summary: str | None = Field(default=None, max_length=2000)
    urgency_hook: str | None = Field(default=None, max_length=2000)
    goal_criteria: str | None = Field(default=None, max_length=2000)
    consent: bool = Field(
        strict=True,
        description="Must be true: you have permission to call these numbers",
        json_schema_extra={"const": True},
    )
    idempotency_key: str | None = Field(
        default=None,
        min_length=1,
        max_length=255,
        description="Same as the Idempotency-Key header (both present must be equal)",
    )


class CallOut(BaseModel):
    """One lead's entry in a BatchCallResponse."""

    call_id: str
    context_id: str
    phone: str
    lead_name: str | None = None
    status: CallStatus
    expires_in_seconds: int
    message: str
    room_name: str
    error: str | None = None


class BatchCallResponse(BaseModel):
    calls: list[CallOut]
    total: int
    dispatched: int
    failed: int


class CallStatusOut(BaseModel):
    call_id: str
    status: CallStatus
    phone: str
    sms_sent: bool
    error: str | None = None
    expires_in_seconds: int


class ObjectionHandler(BaseModel):
    objection: str
    response: str


class ContextOut(BaseModel):
    """The full brief handed to the agent (debugging endpoint)."""

    # ``id`` (= context_id) and the lead's ``phone`` and ``name`` at top level are the names
    # the published MCP client reads; ``context_id`` and ``lead`` stay for our own clients.
    id: str
    context_id: str
    call_id: str | None = None
    room_name: str
    product: str
    goal: str
    language: str
    lead: dict
    phone: str | None = None
    name: str | None = None
    owner_email: str | None = None
    agent_instructions: str
    opening_line: str
    qualification_questions: list[str]
    objection_handlers: list[dict]
    closing_script: str
    product_facts: list[str]
    source: str
    source_note: str | None = None
    created_at: str
    expires_in_seconds: int


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    room_name: str | None = Field(default=None, max_length=128)
    context_id: str | None = Field(default=None, max_length=36)
    participant_name: str = Field(default="Test Caller", min_length=1, max_length=100)


class TokenResponse(BaseModel):
    server_url: str
    participant_token: str
    room_name: str
