"""Typed inputs and outputs of the MCP tools.

Outputs are pydantic models so MCP clients receive ``structuredContent`` checked against a
published ``outputSchema``. They mirror the API reference but tolerate additions
(``extra="allow"``) and treat fields the reference leaves vague as optional, so a newer
server never breaks an older MCP server.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

from nova.compliance.schemas import LeadConsent
from nova.core.phone import E164_PATTERN

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
WEBHOOK_EVENTS = ("call.started", "call.ended", "call.transcribed", "call.scored", "call.analyzed")

Goal = Literal["book_meeting", "qualify_interest", "collect_info", "close_sale"]
Language = Literal["en", "ar-AE"]
WebhookEvent = Literal[
    "call.started", "call.ended", "call.transcribed", "call.scored", "call.analyzed"
]

CallId = Annotated[
    str, Field(pattern=UUID_PATTERN, description="Call ID (UUID) returned by place_calls.")
]
ContextId = Annotated[
    str, Field(pattern=UUID_PATTERN, description="Context ID (UUID) returned by place_calls.")
]
WebhookId = Annotated[
    str,
    Field(
        pattern=UUID_PATTERN,
        description="Webhook ID (UUID) from create_webhook or list_webhooks.",
    ),
]


class _Out(BaseModel):
    model_config = ConfigDict(extra="allow")


# --- inputs -------------------------------------------------------------------------------


class Lead(BaseModel):
    """One person to call."""

    model_config = ConfigDict(extra="forbid")

    phone: str = Field(
        pattern=E164_PATTERN,
        description="Phone number in E.164 format with a leading +, e.g. +971501234567.",
    )
    name: str | None = Field(default=None, max_length=200, description="Lead's name.")
    company: str | None = Field(default=None, max_length=200, description="Lead's company.")
    email: EmailStr | None = Field(default=None, description="Lead's e-mail, if already known.")
    title: str | None = Field(default=None, max_length=200, description="Lead's job title.")
    timezone: str | None = Field(
        default=None,
        max_length=64,
        description="The lead's IANA time zone (e.g. America/New_York) when it is not the "
        "number's: calls are placed only inside the callee's local calling window.",
    )
    consent: LeadConsent | None = Field(
        default=None,
        description="The lead's consent to an automated call; required for US and UK "
        "numbers (and countries without a profile).",
    )


class CallRequest(BaseModel):
    """The body of ``POST /calls`` (checked before sending, so mistakes come back at once)."""

    model_config = ConfigDict(extra="forbid")

    owner_email: EmailStr
    leads: list[Lead] = Field(min_length=1, max_length=5)
    product: str = Field(min_length=1)
    goal: Goal
    consent: Literal[True]
    website_url: str | None = None
    context: str | None = None
    language: Language = "en"
    booking_link: str | None = None
    payment_link: str | None = None
    pricing_summary: str | None = None
    urgency_hook: str | None = None
    goal_criteria: str | None = None

    @model_validator(mode="after")
    def _cross_field(self) -> CallRequest:
        phones = [lead.phone for lead in self.leads]
        dupes = sorted({p for p in phones if phones.count(p) > 1})
        if dupes:
            raise ValueError(f"duplicate phone number(s) in leads: {', '.join(dupes)}")
        if self.goal == "book_meeting" and not self.booking_link:
            raise ValueError("goal 'book_meeting' requires booking_link (a calendar URL)")
        if self.goal == "close_sale" and not self.payment_link:
            raise ValueError("goal 'close_sale' requires payment_link (a checkout URL)")
        return self


# --- outputs ------------------------------------------------------------------------------


class ProbeResult(_Out):
    ok: bool
    status: str | None = Field(default=None, description="ok, failing or not_configured.")
    detail: str | None = None


class HealthOut(_Out):
    """``/health`` (shallow) or ``/health/deep`` (per-dependency probes)."""

    healthy: bool = Field(description="True when the API answered 200 (all probes passed).")
    http_status: int
    status: str | None = Field(default=None, description="'ok', or 'degraded' (deep only).")
    timestamp: datetime | None = None
    active_calls: int | None = None
    ttl_seconds: float | None = None
    checks: dict[str, ProbeResult] | None = Field(
        default=None, description="Deep check only: one entry per dependency probe."
    )


class UserOut(_Out):
    id: str
    email: str
    name: str | None = None
    email_verified: bool | None = None
    phone: str | None = None
    trial_active: bool | None = None
    trial_minutes_remaining: float | None = None
    created_at: datetime | None = None


class FeaturesOut(_Out):
    voice_cloning: bool = False
    byo_twilio: bool = False


class WhoAmIOut(_Out):
    user: UserOut
    features: FeaturesOut | None = Field(
        default=None, description="Feature flags of the account (GET /me/features)."
    )
    api_url: str = Field(description="The Nova deployment these tools are talking to.")


class AuthOut(_Out):
    """Result of register / login."""

    user: UserOut
    token_type: str = "bearer"  # noqa: S105 - the scheme name, not a secret
    session_authenticated: bool = Field(
        description="True when later tool calls in this MCP session now use the new token."
    )
    access_token: str | None = Field(
        default=None,
        description="The JWT, only when return_token=true was asked for. Treat it as a password.",
    )
    message: str


class DispatchedCall(_Out):
    call_id: str
    context_id: str | None = None
    phone: str | None = None
    lead_name: str | None = None
    status: str
    expires_in_seconds: int | None = None
    message: str | None = None
    error: str | None = None


class BatchCallOut(_Out):
    calls: list[DispatchedCall]
    total: int
    dispatched: int
    failed: int


class CallStatusOut(_Out):
    call_id: str
    status: str = Field(description="pending, in_progress, completed or failed.")
    phone: str | None = None
    sms_sent: bool | None = None
    error: str | None = None
    expires_in_seconds: int | None = None


class CallBriefOut(_Out):
    """The brief (call context) the agent was given."""

    id: str | None = None
    context_id: str | None = None
    agent_instructions: str | None = None
    opening_line: str | None = None
    qualification_questions: list[Any] | None = None
    objection_handlers: list[Any] | dict[str, Any] | None = None
    closing_script: str | None = None
    product_facts: list[Any] | dict[str, Any] | None = None
    lead: dict[str, Any] | None = None
    goal: str | None = None
    language: str | None = None
    expires_in_seconds: int | None = None


class CallQualityOut(_Out):
    call_id: str
    scored: bool = Field(description="False while scoring is still pending (score is null).")
    scored_at: datetime | None = None
    score: dict[str, Any] | float | None = None


class UsageOut(_Out):
    plan: str | None = None
    status: str | None = None
    minutes_used: float | None = None
    minutes_limit: float | None = None
    minutes_remaining: float | None = None
    period_start: datetime | None = None
    period_end: datetime | None = None
    trial_ends_at: datetime | None = None


class WebhookOut(_Out):
    id: str
    url: str
    events: list[str]
    is_active: bool | None = None
    created_at: datetime | None = None


class WebhookCreatedOut(WebhookOut):
    secret: str = Field(
        description="Signing secret, shown exactly once: store it now, it cannot be read again."
    )


class WebhookListOut(_Out):
    webhooks: list[WebhookOut]
    count: int


class WebhookDeletedOut(_Out):
    webhook_id: str
    deleted: bool


class WebhookTestOut(_Out):
    webhook_id: str
    result: dict[str, Any] | None = Field(
        default=None, description="The API's report of the test delivery."
    )


class DemoTokenOut(_Out):
    server_url: str
    participant_token: str
    room_name: str


class PlanOut(_Out):
    id: str | None = None
    name: str | None = None
    price: float | None = None
    currency: str | None = None
    included_minutes: int | None = None
    overage_per_minute: float | None = None


class PlansOut(_Out):
    plans: list[PlanOut]
    trial: dict[str, Any] | None = Field(
        default=None, description="What a new account gets (days, minutes), when reported."
    )


def room_for_context(context_id: str) -> str:
    return f"call-{context_id}"


class TransferSettingsOut(_Out):
    configured: bool
    phone_e164: str | None = Field(
        default=None, description="The number a person answers when the agent transfers."
    )
    mode: Literal["warm", "cold"] | None = Field(
        default=None,
        description="warm: the agent briefs the person before connecting; cold: SIP transfer.",
    )
    updated_at: str | None = None
