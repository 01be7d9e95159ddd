"""Property-portal integrations (Property Finder, Bayut) and the leads they deliver."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import UniqueConstraint
from sqlmodel import Field, SQLModel

from nova.models.base import created_field, dt_field, id_field, json_field


class PortalIntegration(SQLModel, table=True):
    __tablename__ = "portal_integrations"
    __table_args__ = (UniqueConstraint("user_id", "portal", name="uq_portal_integration_user"),)

    id: str = id_field()
    user_id: str = Field(foreign_key="users.id", max_length=36, index=True)
    # property_finder | bayut
    portal: str = Field(max_length=32, index=True)
    enabled: bool = True
    # The shared HMAC secret, encrypted at rest (it must be recoverable to verify).
    secret_ciphertext: str = Field(max_length=500)
    secret_last4: str = Field(max_length=4)
    # Defaults for the qualification call placed for every lead.
    product: str = Field(max_length=500)
    context: str | None = Field(default=None, max_length=4000)
    goal: str = Field(default="qualify_interest", max_length=32)
    language: str = Field(default="en", max_length=8)
    booking_link: str | None = Field(default=None, max_length=2000)
    payment_link: str | None = Field(default=None, max_length=2000)
    website_url: str | None = Field(default=None, max_length=2000)
    owner_email: str = Field(max_length=320)
    created_at: datetime = created_field()
    updated_at: datetime = created_field()


class PortalLead(SQLModel, table=True):
    __tablename__ = "portal_leads"
    __table_args__ = (UniqueConstraint("portal", "event_id", name="uq_portal_lead_event"),)

    id: str = id_field()
    integration_id: str = Field(foreign_key="portal_integrations.id", max_length=36, index=True)
    portal: str = Field(max_length=32)
    event_id: str = Field(max_length=200)
    listing_reference: str | None = Field(default=None, max_length=200)
    listing_title: str | None = Field(default=None, max_length=500)
    name: str | None = Field(default=None, max_length=200)
    phone: str = Field(max_length=64)
    email: str | None = Field(default=None, max_length=320)
    message: str | None = Field(default=None, max_length=4000)
    lead_timestamp: datetime | None = dt_field()
    payload: dict = json_field()
    # received → dispatched | failed, or deferred (outside the calling window) → …
    status: str = Field(default="received", max_length=16, index=True)
    error: str | None = Field(default=None, max_length=1000)
    call_id: str | None = Field(default=None, max_length=36)
    received_at: datetime = created_field()
    dispatched_at: datetime | None = dt_field()
