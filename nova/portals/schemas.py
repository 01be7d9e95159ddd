"""Portal integration API shapes and the portals' lead payloads.

The payloads model what the portals send: an event id (the dedupe key), the listing, the
enquirer's contact details, their message and a timestamp. Unknown extra fields are
ignored (portals add fields without notice); missing or mistyped required ones are a 400.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, EmailStr, Field, model_validator

Portal = Literal["property_finder", "bayut"]
Goal = Literal["book_meeting", "qualify_interest", "collect_info", "close_sale"]
Language = Literal["en", "ar-AE"]


class _CallDefaults(BaseModel):
    model_config = ConfigDict(extra="forbid")

    product: str = Field(min_length=1, max_length=500)
    context: str | None = Field(default=None, max_length=4000)
    goal: Goal = "qualify_interest"
    language: Language = "en"
    booking_link: str | None = Field(default=None, max_length=2000)
    payment_link: str | None = Field(default=None, max_length=2000)
    website_url: str | None = Field(default=None, max_length=2000)
    owner_email: EmailStr

    @model_validator(mode="after")
    def _goal_links(self) -> _CallDefaults:
        if self.goal == "book_meeting" and not self.booking_link:
            raise ValueError("booking_link is required when goal is book_meeting")
        if self.goal == "close_sale" and not self.payment_link:
            raise ValueError("payment_link is required when goal is close_sale")
        return self


class IntegrationCreate(_CallDefaults):
    portal: Portal
    enabled: bool = True


class IntegrationUpdate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = None
    product: str | None = Field(default=None, min_length=1, max_length=500)
    context: str | None = Field(default=None, max_length=4000)
    goal: Goal | None = None
    language: Language | None = None
    booking_link: str | None = Field(default=None, max_length=2000)
    payment_link: str | None = Field(default=None, max_length=2000)
    website_url: str | None = Field(default=None, max_length=2000)
    owner_email: EmailStr | None = None


class IntegrationOut(BaseModel):
    id: str
    portal: Portal
    enabled: bool
    secret_last4: str
    product: str
    context: str | None
    goal: Goal
    language: Language
    booking_link: str | None
    payment_link: str | None
    website_url: str | None
    owner_email: str
    receiver_url: str
    created_at: datetime
    updated_at: datetime


class IntegrationWithSecret(IntegrationOut):
    secret: str = Field(description="The shared HMAC secret. Shown once: store it now.")


class LeadOut(BaseModel):
    id: str
    portal: Portal
    event_id: str
    listing_reference: str | None
    listing_title: str | None
    name: str | None
    phone: str
    email: str | None
    status: Literal["received", "deferred", "dispatched", "failed"]
    error: str | None
    call_id: str | None
    received_at: datetime
    dispatched_at: datetime | None


class ReceiverAck(BaseModel):
    accepted: bool
    lead_id: str
    event_id: str
    duplicate: bool = False
    elapsed_ms: float


# --- portal payloads -------------------------------------------------------------------


class _Lenient(BaseModel):
    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)


class PFListing(_Lenient):
    reference: str = Field(min_length=1, max_length=200)
    title: str | None = Field(default=None, max_length=500)
    price: float | None = None
    currency: str | None = Field(default=None, max_length=8)
    location: str | None = Field(default=None, max_length=500)
    url: str | None = Field(default=None, max_length=2000)


class PFContact(_Lenient):
    name: str | None = Field(default=None, max_length=200)
    phone: str = Field(min_length=3, max_length=64)
    email: EmailStr | None = None


class PFLeadData(_Lenient):
    lead_id: str = Field(min_length=1, max_length=200)
    channel: str | None = Field(default=None, max_length=32)
    listing: PFListing
    contact: PFContact
    message: str | None = Field(default=None, max_length=4000)


class PropertyFinderLead(_Lenient):
    """Property Finder lead event: ``{"id", "type": "lead.created", "created_at", "payload"}``."""

    id: str = Field(min_length=1, max_length=200)
    type: Literal["lead.created"]
    created_at: datetime
    payload: PFLeadData


class BayutProperty(_Lenient):
    reference_number: str = Field(min_length=1, max_length=200)
    title: str | None = Field(default=None, max_length=500)
    price: float | None = None
    location: str | None = Field(default=None, max_length=500)
    url: str | None = Field(default=None, max_length=2000)


class BayutLeadData(_Lenient):
    id: str = Field(min_length=1, max_length=200)
    client_name: str | None = Field(default=None, max_length=200)
    client_phone: str = Field(min_length=3, max_length=64)
    client_email: EmailStr | None = None
    message: str | None = Field(default=None, max_length=4000)
    property: BayutProperty


class BayutLead(_Lenient):
    """Bayut lead event: ``{"event_id", "event_type": "new_lead", "timestamp", "lead"}``."""

    event_id: str = Field(min_length=1, max_length=200)
    event_type: Literal["new_lead"]
    timestamp: datetime
    lead: BayutLeadData


class NormalisedLead(BaseModel):
    event_id: str
    listing_reference: str | None
    listing_title: str | None
    listing_details: str | None
    name: str | None
    phone: str
    email: str | None
    message: str | None
    timestamp: datetime | None


def _listing_details(
    title: str | None, location: str | None, price: float | None, currency: str
) -> str | None:
    parts = (title, location, f"{price:,.0f} {currency}" if price is not None else None)
    return ", ".join(p for p in parts if p) or None


def normalise(portal: Portal, body: dict) -> NormalisedLead:
    """Validate a portal's payload (raises pydantic.ValidationError) and flatten it."""
    if portal == "property_finder":
        pf = PropertyFinderLead.model_validate(body)
        li, contact = pf.payload.listing, pf.payload.contact
        return NormalisedLead(
            event_id=pf.id,
            listing_reference=li.reference,
            listing_title=li.title,
            listing_details=_listing_details(li.title, li.location, li.price, li.currency or "AED"),
            name=contact.name,
            phone=contact.phone,
            email=contact.email,
            message=pf.payload.message,
            timestamp=pf.created_at,
        )
    by = BayutLead.model_validate(body)
    prop = by.lead.property
    return NormalisedLead(
        event_id=by.event_id,
        listing_reference=prop.reference_number,
        listing_title=prop.title,
        listing_details=_listing_details(prop.title, prop.location, prop.price, "AED"),
        name=by.lead.client_name,
        phone=by.lead.client_phone,
        email=by.lead.client_email,
        message=by.lead.message,
        timestamp=by.timestamp,
    )
