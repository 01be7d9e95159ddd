"""Billing accounts, the minute ledger, Stripe events and invoices, referral earnings and
payouts. Usage is counted in integer seconds, money in integer cents."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index
from sqlmodel import Field, SQLModel

from nova.models.base import created_field, dt_field, id_field, json_field


class BillingAccount(SQLModel, table=True):
    __tablename__ = "billing_accounts"

    id: str = id_field()
    user_id: str = Field(foreign_key="users.id", max_length=36, unique=True, index=True)
    # trial | starter | growth | scale
    plan: str = Field(default="trial", max_length=32)
    # trialing | active | past_due | canceled | expired | incomplete
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
    # Ordering guards for out-of-order Stripe webhooks: the `created` of the subscription
    # the account follows, and the `created` of the last Stripe event applied to it.
    stripe_subscription_created: int | None = Field(
        default=None, sa_column=Column(BigInteger, nullable=True)
    )
    stripe_state_at: int | None = Field(default=None, sa_column=Column(BigInteger, nullable=True))
    created_at: datetime = created_field()
    updated_at: datetime = created_field()


class MinuteReservation(SQLModel, table=True):
    """Seconds held for one call at dispatch, settled from the real duration at call.ended."""

    __tablename__ = "minute_reservations"

    id: str = id_field()
    account_id: str = Field(foreign_key="billing_accounts.id", max_length=36, index=True)
    call_id: str = Field(max_length=36, unique=True, index=True)
    seconds_reserved: int
    # The call's real duration (whole seconds, rounded up) and what the period was charged:
    # the trial never goes beyond its allowance, paid plans may run into overage.
    seconds_used: int | None = None
    seconds_charged: int | None = None
    seconds_overage: int | None = None
    settled_at: datetime | None = dt_field()
    created_at: datetime = created_field()


class StripeEvent(SQLModel, table=True):
    """Every Stripe webhook event, stored by its id before it is handled (replays are no-ops)."""

    __tablename__ = "stripe_events"

    id: str = Field(primary_key=True, max_length=255)
    type: str = Field(max_length=128, index=True)
    # Stripe's `created` (unix seconds).
    created: int = Field(sa_column=Column(BigInteger, nullable=False))
    # applied | ignored (unknown type, stale, no matching account)
    outcome: str = Field(default="applied", max_length=32)
    note: str | None = Field(default=None, max_length=500)
    received_at: datetime = created_field()


class Invoice(SQLModel, table=True):
    """A Stripe invoice seen through webhooks (paid or failed)."""

    __tablename__ = "invoices"

    id: str = id_field()
    user_id: str = Field(foreign_key="users.id", max_length=36, index=True)
    stripe_invoice_id: str = Field(max_length=255, unique=True, index=True)
    stripe_subscription_id: str | None = Field(default=None, max_length=255)
    # paid | payment_failed
    status: str = Field(max_length=32)
    amount_cents: int = 0
    currency: str = Field(default="usd", max_length=8)
    period_start: datetime | None = dt_field()
    period_end: datetime | None = dt_field()
    hosted_invoice_url: str | None = Field(default=None, max_length=1000)
    # When it was paid (Stripe's status_transitions.paid_at, else the event's time).
    paid_at: datetime | None = dt_field()
    created_at: datetime = created_field()
    updated_at: datetime = created_field()


class ZiinaPayment(SQLModel, table=True):
    """An AED payment intent created on Ziina for a plan."""

    __tablename__ = "ziina_payments"

    id: str = id_field()
    user_id: str = Field(foreign_key="users.id", max_length=36, index=True)
    payment_intent_id: str = Field(max_length=255, unique=True, index=True)
    plan: str = Field(max_length=32)
    amount_fils: int
    currency: str = Field(default="AED", max_length=8)
    status: str = Field(default="requires_payment_instrument", max_length=64)
    created_at: datetime = created_field()


class ReferralBalance(SQLModel, table=True):
    """A referrer's running totals in cents. Payouts move ``available`` to ``paid_out`` with
    one conditional UPDATE, so concurrent requests can never drive it below zero."""

    __tablename__ = "referral_balances"

    user_id: str = Field(foreign_key="users.id", max_length=36, primary_key=True)
    earned_cents: int = 0
    paid_out_cents: int = 0
    updated_at: datetime = created_field()


class ReferralEarning(SQLModel, table=True):
    """Commission on one paid invoice of a referred account (once per invoice)."""

    __tablename__ = "referral_earnings"

    id: str = id_field()
    referrer_id: str = Field(foreign_key="users.id", max_length=36, index=True)
    referred_id: str = Field(foreign_key="users.id", max_length=36, index=True)
    stripe_invoice_id: str = Field(max_length=255, unique=True)
    invoice_amount_cents: int
    # Commission rate in basis points (2000 = 20 %).
    commission_bps: int
    amount_cents: int
    currency: str = Field(default="usd", max_length=8)
    created_at: datetime = created_field()


class ReferralPayout(SQLModel, table=True):
    __tablename__ = "referral_payouts"

    id: str = id_field()
    user_id: str = Field(foreign_key="users.id", max_length=36, index=True)
    amount_cents: int
    method: str = Field(max_length=32)
    # pending | paid | rejected
    status: str = Field(default="pending", max_length=16)
    details: dict = json_field()
    created_at: datetime = created_field()

    __table_args__ = (Index("ix_referral_payouts_user_created", "user_id", "created_at"),)
