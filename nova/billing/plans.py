"""The plan catalogue: defaults from DECISIONS.md, overridable with ``NOVA_BILLING_PLANS``."""

from __future__ import annotations

from pydantic import BaseModel, Field

from nova.core.settings import Settings

TRIAL = "trial"


class Plan(BaseModel):
    id: str = Field(pattern=r"^[a-z0-9_-]{1,32}$")
    name: str
    # Monthly price in US cents.
    price_cents: int = Field(ge=0)
    currency: str = "usd"
    interval: str = "month"
    included_minutes: int = Field(ge=0)
    # Overage rate in cents per minute (billed per second: seconds * rate / 60, rounded up).
    overage_cents_per_minute: int = Field(ge=0)
    # Price of one month in AED fils (Ziina); None = not sold in AED.
    aed_price_fils: int | None = None
    # Stripe Price to subscribe to; when unset one is looked up by lookup key (or created).
    stripe_price_id: str | None = None
    # Cap on overage per period (None = unlimited); reservations beyond it get a 402.
    max_overage_minutes: int | None = None

    @property
    def included_seconds(self) -> int:
        return self.included_minutes * 60

    @property
    def lookup_key(self) -> str:
        return f"nova_{self.id}_{self.interval}ly_{self.price_cents}{self.currency}"


DEFAULT_PLANS: tuple[Plan, ...] = (
    Plan(
        id="starter",
        name="Starter",
        price_cents=2900,
        included_minutes=100,
        overage_cents_per_minute=30,
        aed_price_fils=10700,
    ),
    Plan(
        id="growth",
        name="Growth",
        price_cents=9900,
        included_minutes=500,
        overage_cents_per_minute=22,
        aed_price_fils=36400,
    ),
    Plan(
        id="scale",
        name="Scale",
        price_cents=29900,
        included_minutes=2000,
        overage_cents_per_minute=15,
        aed_price_fils=109900,
    ),
)


def catalogue(settings: Settings) -> list[Plan]:
    if settings.billing_plans:
        return [Plan.model_validate(p) for p in settings.billing_plans]
    return list(DEFAULT_PLANS)


def get_plan(settings: Settings, plan_id: str) -> Plan | None:
    for plan in catalogue(settings):
        if plan.id == plan_id:
            return plan
    return None


def plan_for_price(settings: Settings, price_id: str | None, lookup_key: str | None) -> Plan | None:
    for plan in catalogue(settings):
        if price_id and plan.stripe_price_id == price_id:
            return plan
        if lookup_key and plan.lookup_key == lookup_key:
            return plan
    return None


def overage_cents(plan: Plan | None, overage_seconds: int) -> int:
    """Exact overage charge: seconds × rate / 60, rounded up to the cent."""
    if plan is None or overage_seconds <= 0:
        return 0
    return -(-overage_seconds * plan.overage_cents_per_minute // 60)
