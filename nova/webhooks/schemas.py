from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

# The lifecycle events a webhook may subscribe to: the reference's four, which a webhook
# gets when it names none, and ``call.analyzed`` (post-call analysis, opt-in).
DEFAULT_EVENT_TYPES: tuple[str, ...] = (
    "call.started",
    "call.ended",
    "call.transcribed",
    "call.scored",
)
EVENT_TYPES: tuple[str, ...] = (*DEFAULT_EVENT_TYPES, "call.analyzed")


class WebhookCreate(BaseModel):
    url: str = Field(
        max_length=2048,
        description="HTTPS endpoint that receives the events (a public address)",
        json_schema_extra={"pattern": "^https://"},
    )
    events: list[str] = Field(
        default_factory=lambda: list(DEFAULT_EVENT_TYPES),
        max_length=32,
        description="Event types to receive (the four call lifecycle events when omitted)",
        json_schema_extra={"minItems": 1, "items": {"type": "string", "enum": list(EVENT_TYPES)}},
    )


class WebhookOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    url: str
    events: list[str]
    is_active: bool
    created_at: datetime
    updated_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="Shown once: Nova stores only its SHA-256 hash")


class DeliveryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str = Field(description="Stable across attempts; sent as X-Nova-Delivery")
    webhook_id: str
    event_id: str
    event_type: str
    status: str = Field(description="pending | delivering | succeeded | failed")
    attempt_count: int
    status_code: int | None
    error_message: str | None
    next_attempt_at: datetime | None
    created_at: datetime
    delivered_at: datetime | None


class WebhookTestOut(DeliveryOut):
    """The test delivery's first attempt: the delivery, plus ``delivery_id`` (= ``id``) and a
    one-line ``message``, the shape the published MCP client reads."""

    delivery_id: str
    message: str
