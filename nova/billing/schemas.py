"""Request and response shapes of /billing and /referrals."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field


class PlanOut(BaseModel):
    id: str
    name: str
    price_cents: int
    price: float = Field(description="Monthly price in the plan's currency (e.g. 29.0)")
    currency: str
    interval: str
    included_minutes: int
    overage_cents_per_minute: int
    overage_per_minute: float
    aed_price_fils: int | None = None


class TrialOut(BaseModel):
    days: int
    minutes: int


class PlansOut(BaseModel):
    plans: list[PlanOut]
    trial: TrialOut


class UsageOut(BaseModel):
    plan: str
    status: str
    minutes_used: float
    minutes_limit: float
    minutes_remaining: float
    period_start: datetime
    period_end: datetime
    trial_ends_at: datetime | None
    # Exact figures behind the rounded minutes.
    seconds_used: int
    seconds_limit: int
    seconds_reserved: int
    overage_minutes: float
    overage_cents: int
    cancel_at_period_end: bool


class SubscriptionOut(BaseModel):
    subscription_id: str
    provider: str = "stripe"
    plan: str
    status: str
    current_period_start: datetime
    current_period_end: datetime
    cancel_at_period_end: bool
    price_cents: int | None = None
    currency: str | None = None


def _plan_ids(schema: dict) -> None:
    """The configured plan ids, as an enum in the OpenAPI document."""
    from nova.billing.plans import catalogue
    from nova.core.settings import get_settings

    schema["enum"] = [p.id for p in catalogue(get_settings())]


def _payout_minimum(schema: dict) -> None:
    from nova.core.settings import get_settings

    schema["minimum"] = get_settings().referral_payout_min_cents


class SubscribeRequest(BaseModel):
    plan: str = Field(min_length=1, max_length=32, json_schema_extra=_plan_ids)
    payment_method_id: str = Field(min_length=1, max_length=255)


class SubscribeOut(BaseModel):
    subscription_id: str
    status: str
    client_secret: str | None


class SetupIntentOut(BaseModel):
    client_secret: str
    setup_intent_id: str


class CreatePaymentRequest(BaseModel):
    plan_id: str = Field(min_length=1, max_length=32, json_schema_extra=_plan_ids)


class CreatePaymentOut(BaseModel):
    redirect_url: str
    payment_intent_id: str


class StripeJsConfig(BaseModel):
    publishable_key: str
    js_url: str = Field(description="Where the web app loads Stripe.js from.")


class PaymentConfigOut(BaseModel):
    """Which ways to pay this server offers the web app (no secrets)."""

    stripe: StripeJsConfig | None = Field(description="Card payments; null when not configured.")
    ziina: bool = Field(description="AED payments through Ziina's hosted page.")


class WebhookAck(BaseModel):
    received: bool = True
    duplicate: bool = False
    outcome: str | None = None


# --- referrals -----------------------------------------------------------------------------


class ReferralCodeOut(BaseModel):
    code: str
    commission_rate: float
    share_url: str


class ReferralStatsOut(BaseModel):
    referrals: int
    pending_signups: int
    conversions: int
    total_earnings_cents: int
    available_balance_cents: int
    paid_out_cents: int
    commission_rate: float


class ReferralItem(BaseModel):
    id: str
    email: str
    status: str  # signed_up | converted
    signed_up_at: datetime
    converted_at: datetime | None
    earnings_cents: int


class ReferralListOut(BaseModel):
    items: list[ReferralItem]
    total: int
    limit: int
    offset: int


class EarningItem(BaseModel):
    id: str
    referred_email: str
    invoice_id: str
    invoice_amount_cents: int
    commission_rate: float
    amount_cents: int
    currency: str
    created_at: datetime


class EarningsOut(BaseModel):
    items: list[EarningItem]
    total: int
    total_cents: int
    limit: int
    offset: int


class PayoutRequest(BaseModel):
    amount_cents: int = Field(
        gt=0,
        le=10**9,
        description="At least the payout minimum, at most your available balance",
        json_schema_extra=_payout_minimum,
    )
    method: str = Field(min_length=1, max_length=32, pattern=r"^[A-Za-z0-9_\-]+$")


class PayoutOut(BaseModel):
    id: str
    amount_cents: int
    method: str
    status: str
    created_at: datetime


class PayoutsOut(BaseModel):
    items: list[PayoutOut]
    total: int
    limit: int
    offset: int
    available_balance_cents: int
