"""Billing accounts and the minute ledger. Usage is counted in integer seconds."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from nova.models.base import created_field, dt_field, id_field


class BillingAccount(SQLModel, table=True):
    __tablename__ = "billing_accounts"

    id: str = id_field()
    user_id: str = Field(foreign_key="users.id", max_length=36, unique=True, index=True)
    # trial | starter | growth | scale
    plan: str = Field(default="trial", max_length=32)
    # trialing | active | past_due | canceled | expired
    status: str = Field(default="trialing", max_length=32)
    period_start: datetime = dt_field(nullable=False)
    period_end: datetime = dt_field(nullable=False)
    trial_ends_at: datetime | None = dt_field()
    seconds_included: int = 0
    seconds_used: int = 0
    seconds_reserved: int = 0
    stripe_customer_id: str | None = Field(default=None, max_length=255, index=True)
    stripe_subscription_id: str | None = Field(default=None, max_length=255, index=True)
    cancel_at_period_end: bool = False
    created_at: datetime = created_field()
    updated_at: datetime = created_field()


class MinuteReservation(SQLModel, table=True):
    """Seconds held for one call at dispatch, settled from the real duration at call.ended."""

    __tablename__ = "minute_reservations"

    id: str = id_field()
    account_id: str = Field(foreign_key="billing_accounts.id", max_length=36, index=True)
    call_id: str = Field(max_length=36, unique=True, index=True)
    seconds_reserved: int
    seconds_used: int | None = None
    settled_at: datetime | None = dt_field()
    created_at: datetime = created_field()
