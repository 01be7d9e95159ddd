"""Billing: usage, Stripe subscriptions, Ziina payments, the Stripe webhook.

Services never commit; the request session does. Stripe calls happen inside the request
with the account row locked, so two concurrent subscribe requests for one account serialise
and the Stripe customer is created once (also guarded by an idempotency key).
"""

from __future__ import annotations

import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from nova.billing import metering, stripe_client, ziina
from nova.billing import plans as plan_catalogue
from nova.billing.plans import Plan
from nova.billing.schemas import (
    CreatePaymentOut,
    PlanOut,
    PlansOut,
    SetupIntentOut,
    SubscribeOut,
    SubscriptionOut,
    TrialOut,
    UsageOut,
)
from nova.billing.stripe_client import get
from nova.core import clock
from nova.core.db import is_postgres
from nova.core.errors import BadRequest, Conflict, NotFound, ServiceUnavailable
from nova.core.events import emit
from nova.core.settings import Settings
from nova.models.billing import BillingAccount, Invoice, StripeEvent, ZiinaPayment
from nova.models.user import User

log = logging.getLogger("nova.billing")

LIVE_SUB_STATUSES = ("active", "trialing", "past_due", "unpaid", "paused")


def _minutes(seconds: int) -> float:
    return round(seconds / 60, 2)


def _ts(value: int | None) -> datetime | None:
    return datetime.fromtimestamp(int(value), UTC) if value else None


# --- plans & usage ---------------------------------------------------------------------------


def plans_out(settings: Settings) -> PlansOut:
    return PlansOut(
        plans=[
            PlanOut(
                id=p.id,
                name=p.name,
                price_cents=p.price_cents,
                price=p.price_cents / 100,
                currency=p.currency,
                interval=p.interval,
                included_minutes=p.included_minutes,
                overage_cents_per_minute=p.overage_cents_per_minute,
                overage_per_minute=p.overage_cents_per_minute / 100,
                aed_price_fils=p.aed_price_fils,
            )
            for p in plan_catalogue.catalogue(settings)
        ],
        trial=TrialOut(days=settings.trial_days, minutes=settings.trial_minutes),
    )


async def account_for(
    session: AsyncSession, settings: Settings, user: User, *, for_update: bool = True
) -> BillingAccount:
    """The user's account, brought up to date (trial expiry, period rollover). Users created
    outside registration get their trial on first sight."""
    account = await metering.get_account(session, user.id, for_update=for_update)
    if account is None:
        account = metering.open_trial_account(settings, user)
        session.add(account)
        await session.flush()
    if metering.refresh(account):
        await session.flush()
    return account


def usage_out(settings: Settings, account: BillingAccount) -> UsageOut:
    usable = metering.usable(account)
    remaining = metering.remaining_seconds(account) if usable else 0
    overage = metering.overage_seconds(account)
    plan = plan_catalogue.get_plan(settings, account.plan)
    return UsageOut(
        plan=account.plan,
        status=account.status,
        minutes_used=_minutes(account.seconds_used),
        minutes_limit=_minutes(account.seconds_included),
        minutes_remaining=_minutes(remaining),
        period_start=account.period_start,
        period_end=account.period_end,
        trial_ends_at=account.trial_ends_at,
        seconds_used=account.seconds_used,
        seconds_limit=account.seconds_included,
        seconds_reserved=account.seconds_reserved,
        overage_minutes=_minutes(overage),
        overage_cents=plan_catalogue.overage_cents(plan, overage),
        cancel_at_period_end=account.cancel_at_period_end,
    )


def subscription_out(settings: Settings, account: BillingAccount) -> SubscriptionOut | None:
    if (
        not account.stripe_subscription_id
        or account.plan == plan_catalogue.TRIAL
        or account.status in ("canceled", "incomplete_expired")
    ):
        return None
    plan = plan_catalogue.get_plan(settings, account.plan)
    return SubscriptionOut(
        subscription_id=account.stripe_subscription_id,
        plan=account.plan,
        status=account.status,
        current_period_start=account.period_start,
        current_period_end=account.period_end,
        cancel_at_period_end=account.cancel_at_period_end,
        price_cents=plan.price_cents if plan else None,
        currency=plan.currency if plan else None,
    )


# --- Stripe: customer, subscription, setup intent, cancel -----------------------------------


def _plan_or_400(settings: Settings, plan_id: str) -> Plan:
    plan = plan_catalogue.get_plan(settings, plan_id)
    if plan is None:
        known = ", ".join(p.id for p in plan_catalogue.catalogue(settings))
        raise BadRequest(f"Unknown plan {plan_id!r}: choose one of {known}")
    return plan


async def ensure_customer(settings: Settings, account: BillingAccount, user: User) -> str:
    if account.stripe_customer_id:
        return account.stripe_customer_id
    customer = await stripe_client.create_customer(
        settings, email=user.email, user_id=user.id, idempotency_key=f"nova-customer-{user.id}"
    )
    account.stripe_customer_id = customer.id
    account.updated_at = clock.now()
    return customer.id


async def subscribe(
    session: AsyncSession, settings: Settings, user: User, plan_id: str, payment_method_id: str
) -> SubscribeOut:
    plan = _plan_or_400(settings, plan_id)
    stripe_client.client(settings)  # 503 before anything else when Stripe is not configured
    account = await account_for(session, settings, user)
    has_live = (
        account.stripe_subscription_id is not None
        and account.plan != plan_catalogue.TRIAL
        and account.status in LIVE_SUB_STATUSES
    )
    if has_live and account.plan == plan.id and not account.cancel_at_period_end:
        raise Conflict(f"Already subscribed to the {plan.name} plan")
    customer_id = await ensure_customer(settings, account, user)
    await session.flush()
    await stripe_client.attach_payment_method(
        settings, customer_id=customer_id, payment_method_id=payment_method_id
    )
    price_id = await stripe_client.price_for(settings, plan)
    if has_live:
        assert account.stripe_subscription_id is not None
        current = await stripe_client.retrieve_subscription(
            settings, account.stripe_subscription_id
        )
        item_id, _, _ = stripe_client.subscription_price(current)
        sub = await stripe_client.update_subscription_plan(
            settings,
            subscription_id=account.stripe_subscription_id,
            item_id=item_id or "",
            price_id=price_id,
            plan_id=plan.id,
        )
    else:
        sub = await stripe_client.create_subscription(
            settings,
            customer_id=customer_id,
            price_id=price_id,
            payment_method_id=payment_method_id,
            plan_id=plan.id,
            user_id=user.id,
            idempotency_key=f"nova-sub-{uuid.uuid4()}",
        )
    apply_subscription(settings, account, sub, event_created=None)
    await session.flush()
    return SubscribeOut(
        subscription_id=sub.id, status=sub.status, client_secret=stripe_client.client_secret(sub)
    )


async def setup_intent(session: AsyncSession, settings: Settings, user: User) -> SetupIntentOut:
    stripe_client.client(settings)
    account = await account_for(session, settings, user)
    customer_id = await ensure_customer(settings, account, user)
    await session.flush()
    intent = await stripe_client.create_setup_intent(settings, customer_id=customer_id)
    return SetupIntentOut(client_secret=intent.client_secret or "", setup_intent_id=intent.id)


async def cancel(session: AsyncSession, settings: Settings, user: User) -> SubscriptionOut:
    account = await account_for(session, settings, user)
    if subscription_out(settings, account) is None:
        raise NotFound("No active subscription to cancel")
    assert account.stripe_subscription_id is not None
    sub = await stripe_client.cancel_at_period_end(settings, account.stripe_subscription_id)
    apply_subscription(settings, account, sub, event_created=None)
    account.cancel_at_period_end = True
    await session.flush()
    out = subscription_out(settings, account)
    assert out is not None
    return out


# --- Ziina (AED) -------------------------------------------------------------------------------


async def create_payment(
    session: AsyncSession, settings: Settings, user: User, plan_id: str
) -> CreatePaymentOut:
    if not ziina.configured(settings):
        raise ServiceUnavailable("AED payments (Ziina) are not configured on this server")
    plan = _plan_or_400(settings, plan_id)
    if plan.aed_price_fils is None:
        raise BadRequest(f"The {plan.name} plan cannot be paid in AED")
    base = settings.public_url.rstrip("/")
    data = await ziina.create_payment_intent(
        settings,
        amount_fils=plan.aed_price_fils,
        message=f"Nova {plan.name} plan — 1 month",
        idempotency_key=str(uuid.uuid4()),
        success_url=settings.ziina_success_url or f"{base}/#/usage?payment=success",
        cancel_url=settings.ziina_cancel_url or f"{base}/#/usage?payment=cancel",
    )
    session.add(
        ZiinaPayment(
            user_id=user.id,
            payment_intent_id=str(data["id"]),
            plan=plan.id,
            amount_fils=plan.aed_price_fils,
            status=str(data.get("status") or "requires_payment_instrument")[:64],
            created_at=clock.now(),
        )
    )
    await session.flush()
    return CreatePaymentOut(redirect_url=data["redirect_url"], payment_intent_id=str(data["id"]))


async def handle_ziina_webhook(
    session: AsyncSession, settings: Settings, body: bytes, signature: str | None
) -> str:
    """A completed Ziina payment buys one month of its plan (no auto-renewal: the period
    ends with the plan unless paid again). Exactly once per payment intent."""
    payload = ziina.verify_webhook(settings, body, signature)
    if payload.get("event") != "payment_intent.status.updated":
        return "ignored: unhandled type"
    data = payload["data"]
    intent_id, new_status = str(data.get("id") or ""), str(data.get("status") or "")
    payment = (
        await session.execute(
            select(ZiinaPayment).where(ZiinaPayment.payment_intent_id == intent_id)
        )
    ).scalar_one_or_none()
    if payment is None or not new_status:
        return "ignored: unknown payment intent"
    moved = await session.execute(
        update(ZiinaPayment)
        .where(ZiinaPayment.id == payment.id, ZiinaPayment.status != "completed")
        .values(status=new_status[:64])
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        return "ignored: already completed"
    if new_status != "completed":
        return f"recorded: {new_status}"
    plan = plan_catalogue.get_plan(settings, payment.plan)
    account = await metering.get_account(session, payment.user_id, for_update=True)
    if plan is None or account is None:
        return "ignored: plan or account gone"
    metering.refresh(account)
    if (
        account.stripe_subscription_id
        and account.plan != plan_catalogue.TRIAL
        and account.status in LIVE_SUB_STATUSES
    ):
        log.warning("ziina payment %s for an account with a live Stripe plan", intent_id)
        outcome = "recorded: account has a live Stripe subscription"
    else:
        now = clock.now()
        account.plan = plan.id
        account.status = "active"
        account.seconds_included = plan.included_seconds
        account.cancel_at_period_end = True  # a prepaid month, it does not renew
        metering.start_period(account, now, metering.add_months(now))
        outcome = f"active: {plan.id}"
    now = clock.now()
    session.add(
        Invoice(
            user_id=payment.user_id,
            stripe_invoice_id=f"ziina:{intent_id}",
            status="paid",
            amount_cents=payment.amount_fils,
            currency="aed",
            period_start=account.period_start,
            period_end=account.period_end,
            paid_at=now,
            created_at=now,
            updated_at=now,
        )
    )
    await emit(
        session,
        "invoice.paid",
        {
            "user_id": payment.user_id,
            "invoice_id": f"ziina:{intent_id}",
            "subscription_id": None,
            # Commission is counted on the plan's USD price (balances are in US cents).
            "amount_cents": plan.price_cents,
            "currency": plan.currency,
            "paid_at": clock.now().isoformat(),
        },
    )
    await session.flush()
    return outcome


# --- Stripe webhook ------------------------------------------------------------------------------


def _is_stale(account: BillingAccount, event_created: int | None) -> bool:
    return (
        event_created is not None
        and account.stripe_state_at is not None
        and event_created < account.stripe_state_at
    )


def _mark_applied(account: BillingAccount, event_created: int | None) -> None:
    if event_created is not None:
        account.stripe_state_at = max(account.stripe_state_at or 0, event_created)
    account.updated_at = clock.now()


def _plan_of_subscription(settings: Settings, sub: Any) -> Plan | None:
    by_meta = get(sub, "metadata", "nova_plan")
    if by_meta:
        plan = plan_catalogue.get_plan(settings, str(by_meta))
        if plan is not None:
            return plan
    _, price_id, lookup_key = stripe_client.subscription_price(sub)
    return plan_catalogue.plan_for_price(settings, price_id, lookup_key)


def _adopt_plan(account: BillingAccount, plan: Plan, start: int | None, end: int | None) -> None:
    """Switch to ``plan``. Leaving the trial, or a period that starts later than the current
    one, begins a new period with usage reset; an older period never replaces a newer one."""
    new_start, new_end = _ts(start), _ts(end)
    leaving_trial = account.plan == plan_catalogue.TRIAL
    account.plan = plan.id
    account.seconds_included = plan.included_seconds
    if new_start is None or new_end is None:
        return
    if leaving_trial or new_start > account.period_start:
        metering.start_period(account, new_start, new_end)
    elif new_start == account.period_start:
        account.period_end = new_end


def apply_subscription(
    settings: Settings, account: BillingAccount, sub: Any, *, event_created: int | None
) -> str:
    """Bring the account in line with a Stripe subscription object, never regressing:
    an older subscription (by ``created``) or an older event (by event ``created``) than what
    the account already reflects is ignored, and a cancelled subscription is final."""
    sub_id = get(sub, "id")
    sub_created = int(get(sub, "created") or 0)
    status = str(get(sub, "status") or "")
    tracked = account.stripe_subscription_id
    if tracked and tracked != sub_id:
        if (account.stripe_subscription_created or 0) > sub_created:
            return "ignored: older subscription"
        if status not in ("active", "trialing") and account.status in ("active", "trialing"):
            return "ignored: newer subscription not live yet"
    elif tracked == sub_id:
        if _is_stale(account, event_created):
            return "ignored: stale event"
        if account.status == "canceled" and account.plan != plan_catalogue.TRIAL:
            return "ignored: subscription already cancelled"
    plan = _plan_of_subscription(settings, sub)
    start, end = stripe_client.subscription_period(sub)
    account.stripe_subscription_id = sub_id
    account.stripe_subscription_created = sub_created or account.stripe_subscription_created
    account.cancel_at_period_end = bool(get(sub, "cancel_at_period_end"))
    _mark_applied(account, event_created)
    if status in ("active", "trialing"):
        if plan is None:
            log.warning("subscription %s has no known plan", sub_id)
            return "ignored: unknown plan"
        _adopt_plan(account, plan, start, end)
        account.status = status if status == "active" else "trialing"
        return f"{status}: {plan.id}"
    if status in ("past_due", "unpaid", "paused"):
        if account.plan == plan_catalogue.TRIAL:
            return "ignored: never activated"
        account.status = "past_due"
        return "past_due"
    if status in ("canceled", "incomplete_expired"):
        if account.plan == plan_catalogue.TRIAL:
            # A subscription that never got paid: the trial continues as it was.
            return "ignored: never activated"
        account.status = "canceled"
        account.cancel_at_period_end = False
        ended = _ts(get(sub, "ended_at")) or clock.now()
        account.period_end = min(account.period_end, max(ended, account.period_start))
        return "canceled"
    # incomplete: waiting for the customer to confirm the first payment; nothing changes.
    return f"pending: {status}"


async def _account_by_customer(
    session: AsyncSession, customer_id: str | None, user_id: str | None
) -> BillingAccount | None:
    stmt = None
    if customer_id:
        stmt = select(BillingAccount).where(BillingAccount.stripe_customer_id == customer_id)
    elif user_id:
        stmt = select(BillingAccount).where(BillingAccount.user_id == user_id)
    if stmt is None:
        return None
    if is_postgres(session):
        stmt = stmt.with_for_update()
    account = (await session.execute(stmt)).scalars().first()
    if account is None and user_id and customer_id:
        return await _account_by_customer(session, None, user_id)
    return account


async def _record_invoice(
    session: AsyncSession, account: BillingAccount, inv: Any, status: str, event_created: int
) -> Invoice:
    inv_id = str(get(inv, "id"))
    row = (
        await session.execute(select(Invoice).where(Invoice.stripe_invoice_id == inv_id))
    ).scalar_one_or_none()
    start, end = stripe_client.invoice_period(inv)
    amount = (
        int(get(inv, "amount_paid") or 0) if status == "paid" else int(get(inv, "amount_due") or 0)
    )
    now = clock.now()
    if row is None:
        row = Invoice(
            user_id=account.user_id,
            stripe_invoice_id=inv_id,
            created_at=now,
            status=status,
        )
        session.add(row)
    elif row.status == "paid":
        return row  # a late payment_failed never overrides a paid invoice
    row.stripe_subscription_id = stripe_client.invoice_subscription_id(inv)
    row.status = status
    row.amount_cents = amount
    row.currency = str(get(inv, "currency") or "usd")[:8]
    row.period_start, row.period_end = _ts(start), _ts(end)
    url = get(inv, "hosted_invoice_url")
    row.hosted_invoice_url = str(url)[:1000] if url else None
    if status == "paid":
        paid_at = get(inv, "status_transitions", "paid_at") or event_created
        row.paid_at = _ts(paid_at) or now
    row.updated_at = now
    await session.flush()
    return row


def _plan_of_invoice(settings: Settings, inv: Any) -> Plan | None:
    for line in get(inv, "lines", "data") or []:
        meta_plan = get(line, "metadata", "nova_plan")
        if meta_plan and (plan := plan_catalogue.get_plan(settings, str(meta_plan))):
            return plan
        price = get(line, "pricing", "price_details", "price") or get(line, "price")
        lookup = None
        if not isinstance(price, str):
            lookup = get(price, "lookup_key")
            price = get(price, "id")
        plan = plan_catalogue.plan_for_price(settings, price, lookup)
        if plan is not None:
            return plan
    return None


async def _on_invoice(session: AsyncSession, settings: Settings, event: Any, paid: bool) -> str:
    inv = get(event, "data", "object")
    account = await _account_by_customer(
        session, get(inv, "customer"), get(inv, "metadata", "nova_user_id")
    )
    if account is None:
        return "ignored: no account for customer"
    created = int(get(event, "created") or 0) or None
    row = await _record_invoice(
        session, account, inv, "paid" if paid else "payment_failed", created or 0
    )
    sub_id = stripe_client.invoice_subscription_id(inv)
    outcome = "recorded"
    if paid:
        await emit(
            session,
            "invoice.paid",
            {
                "user_id": account.user_id,
                "invoice_id": row.stripe_invoice_id,
                "subscription_id": sub_id,
                "amount_cents": row.amount_cents,
                "currency": row.currency,
                "paid_at": (row.paid_at or clock.now()).isoformat(),
            },
        )
    tracked = account.stripe_subscription_id
    if sub_id and tracked and sub_id != tracked:
        return outcome + "; other subscription"
    if _is_stale(account, created):
        return outcome + "; stale for account state"
    if account.status == "canceled" and account.plan != plan_catalogue.TRIAL:
        return outcome + "; subscription already cancelled"
    if paid:
        plan = plan_catalogue.get_plan(settings, account.plan)
        if account.plan == plan_catalogue.TRIAL or plan is None:
            plan = _plan_of_invoice(settings, inv)
        if plan is None or not sub_id:
            return outcome + "; no plan on invoice"
        start, end = stripe_client.invoice_period(inv)
        account.stripe_subscription_id = sub_id
        _adopt_plan(account, plan, start, end)
        account.status = "active"
        _mark_applied(account, created)
        return outcome + f"; active: {plan.id}"
    if account.plan != plan_catalogue.TRIAL and account.status in ("active", "trialing"):
        account.status = "past_due"
        _mark_applied(account, created)
        return outcome + "; past_due"
    return outcome


async def _on_subscription(session: AsyncSession, settings: Settings, event: Any) -> str:
    sub = get(event, "data", "object")
    account = await _account_by_customer(
        session, get(sub, "customer"), get(sub, "metadata", "nova_user_id")
    )
    if account is None:
        return "ignored: no account for customer"
    if account.stripe_customer_id is None and get(sub, "customer"):
        account.stripe_customer_id = str(get(sub, "customer"))
    created = int(get(event, "created") or 0) or None
    return apply_subscription(settings, account, sub, event_created=created)


HANDLED = {
    "customer.subscription.created",
    "customer.subscription.updated",
    "customer.subscription.deleted",
    "invoice.paid",
    "invoice.payment_failed",
}


async def handle_webhook(
    session: AsyncSession, settings: Settings, payload: bytes, signature: str | None
) -> tuple[bool, str]:
    """Verify, store by event id, handle. Returns (duplicate, outcome)."""
    event = stripe_client.construct_event(settings, payload, signature).to_dict()
    record = StripeEvent(
        id=str(event["id"]),
        type=str(event.get("type"))[:128],
        created=int(get(event, "created") or 0),
        received_at=clock.now(),
    )
    try:
        async with session.begin_nested():
            session.add(record)
            await session.flush()
    except IntegrityError:
        return True, "duplicate"
    kind = record.type
    if kind not in HANDLED:
        outcome = "ignored: unhandled type"
    elif kind.startswith("customer.subscription."):
        outcome = await _on_subscription(session, settings, event)
    else:
        outcome = await _on_invoice(session, settings, event, paid=kind == "invoice.paid")
    record.outcome = "applied" if not outcome.startswith("ignored") else "ignored"
    record.note = outcome[:500]
    await session.flush()
    log.info("stripe event %s (%s): %s", record.id, kind, outcome)
    return False, outcome
