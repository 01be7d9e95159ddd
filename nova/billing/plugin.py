"""Billing's event handlers: settle minutes at call end, pay referral commissions on paid
invoices, report overage to a Stripe meter, sweep stale reservations and elapsed periods."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from nova.billing import metering, referrals, stripe_client
from nova.core import clock
from nova.core.db import session_scope
from nova.core.events import enqueue, subscribe, task_handler
from nova.core.runner import once_across_replicas, scheduled
from nova.core.settings import get_settings
from nova.models.billing import BillingAccount, MinuteReservation
from nova.models.events import Event

log = logging.getLogger("nova.billing.plugin")


@subscribe(
    "call.ended",
    "call.failed",
    name="billing.settle",
    # Up to 100 calls settle in one transaction (one by one if the batch fails): one
    # transaction per call.ended cost more than delivering its webhooks.
    when=lambda data: bool(data.get("call_id")),
    batch=100,
)
async def settle_calls(session: AsyncSession, events: list[Event]) -> None:
    """``call.ended`` / ``call.failed`` carry ``call_id`` and ``duration_seconds`` (a failed
    call that never connected reports none and is charged nothing). One query reads the
    unsettled reservations of the batch's calls; only those calls are settled (the rest,
    e.g. anonymous demos, have nothing to settle)."""
    ids = {str((e.data or {}).get("call_id")) for e in events if (e.data or {}).get("call_id")}
    held = {
        r.call_id: r
        for r in (
            await session.execute(
                select(MinuteReservation).where(
                    MinuteReservation.call_id.in_(ids), MinuteReservation.settled_at.is_(None)
                )
            )
        ).scalars()
    }
    for event in events:
        reservation = held.get(str((event.data or {}).get("call_id")))
        if reservation is not None:
            await settle_call(session, event, reservation)


async def settle_call(
    session: AsyncSession, event: Event, reservation: MinuteReservation | None = None
) -> None:
    data = event.data or {}
    call_id = data.get("call_id")
    if not call_id:
        return
    done = await metering.settle(
        session, str(call_id), data.get("duration_seconds") or 0, reservation=reservation
    )
    if done is None:
        return
    settings = get_settings()
    if (
        settings.stripe_meter_event_name
        and done.overage_seconds > 0
        and done.account.stripe_customer_id
    ):
        await enqueue(
            session,
            "billing.report_usage",
            {
                "customer_id": done.account.stripe_customer_id,
                "call_id": str(call_id),
                "value": done.overage_seconds,
            },
            dedupe_key=str(call_id),
        )


@task_handler("billing.report_usage", max_attempts=10)
async def report_usage(session: AsyncSession, payload: dict) -> None:
    """Tell the Stripe meter about a call's overage seconds; the call id is the meter event's
    identifier, so a retried report is not counted twice."""
    await stripe_client.report_meter_usage(
        get_settings(),
        customer_id=payload["customer_id"],
        value=int(payload["value"]),
        identifier=payload["call_id"],
    )


@subscribe("invoice.paid", name="billing.referral_commission")
async def referral_commission(session: AsyncSession, event: Event) -> None:
    data = event.data or {}
    if not data.get("user_id") or not data.get("invoice_id"):
        return
    await referrals.credit_invoice(
        session,
        get_settings(),
        referred_id=str(data["user_id"]),
        invoice_id=str(data["invoice_id"]),
        amount_cents=int(data.get("amount_cents") or 0),
        currency=str(data.get("currency") or "usd"),
        paid_at=datetime.fromisoformat(data["paid_at"]) if data.get("paid_at") else None,
    )


async def sweep(session: AsyncSession) -> dict[str, int]:
    """Release holds of calls that never ended; expire trials and roll over elapsed periods."""
    settings = get_settings()
    released = await metering.release_stale(session, settings.reservation_max_age_seconds)
    now = clock.now()
    due = (
        await session.execute(
            select(BillingAccount).where(
                BillingAccount.status.in_(("trialing", "active")),
                BillingAccount.period_end <= now,
            )
        )
    ).scalars()
    refreshed = sum(1 for account in due if metering.refresh(account))
    await session.flush()
    return {"released": released, "refreshed": refreshed}


@scheduled("billing.sweep", type="interval", minutes=10)
async def scheduled_sweep() -> None:
    async with once_across_replicas("billing.sweep") as mine:
        if not mine:
            return
        async with session_scope() as session:
            result = await sweep(session)
        if any(result.values()):
            log.info("billing sweep: %s", result)
