"""Outbound lifecycle webhooks: subscriptions and their deliveries.

A delivery row is the durable unit of work: it is created in the same transaction that
consumes the event (one row per matching subscription), claimed with ``FOR UPDATE SKIP
LOCKED`` on PostgreSQL under a lease, and its id is the stable ``X-Nova-Delivery`` header.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Text
from sqlmodel import Field, SQLModel

from nova.models.base import created_field, dt_field, id_field, json_field


class Webhook(SQLModel, table=True):
    """A customer endpoint. ``signing_key`` is the HMAC key (per the reference, the SHA-256
    hex of the raw secret shown once), sealed with Fernet (``nova.webhooks.signing``)."""

    __tablename__ = "webhooks"

    id: str = id_field()
    user_id: str = Field(foreign_key="users.id", max_length=36, index=True)
    url: str = Field(max_length=2048)
    events: list = json_field(default_factory=list)
    signing_key: str = Field(sa_type=Text, nullable=False)
    is_active: bool = True
    created_at: datetime = created_field()
    updated_at: datetime = created_field()


class WebhookDelivery(SQLModel, table=True):
    __tablename__ = "webhook_deliveries"

    # Stable across attempts: the receiver's dedupe key (X-Nova-Delivery).
    id: str = id_field()
    webhook_id: str = Field(foreign_key="webhooks.id", max_length=36)
    # The outbox event this delivery carries (a random id for test deliveries).
    event_id: str = Field(max_length=36)
    event_type: str = Field(max_length=64)
    # The event's ``data`` object, delivered as the body's ``data``.
    payload: dict = json_field()
    # pending → delivering → succeeded | failed (pending again between attempts)
    status: str = Field(default="pending", max_length=16)
    attempt_count: int = 0
    status_code: int | None = None
    error_message: str | None = Field(default=None, max_length=500)
    next_attempt_at: datetime | None = dt_field()
    # Lease of the process delivering it; an expired lease is claimed again.
    locked_until: datetime | None = dt_field()
    lease_id: str | None = Field(default=None, max_length=32)
    created_at: datetime = created_field()
    delivered_at: datetime | None = dt_field()

    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_webhook", "webhook_id", "created_at"),
        Index("uq_webhook_deliveries_event", "webhook_id", "event_id", unique=True),
        # Retention deletes the oldest finished deliveries first.
        Index("ix_webhook_deliveries_created", "created_at"),
    )
