"""Minute metering: the account's allowance, reservations at dispatch, settlement at the end.

Everything is integer seconds. A reservation holds ``seconds`` of the allowance for one call;
``available = included (+ overage cap on paid plans) - used - reserved`` must stay >= 0. The
trial never goes beyond its allowance; paid plans run into overage billed at the plan's rate
(unlimited unless the plan sets ``max_overage_minutes``). Reservation and settlement take a
row lock on the account (``SELECT … FOR UPDATE`` on PostgreSQL; SQLite serialises writers
with ``BEGIN IMMEDIATE``), so concurrent batches cannot overspend.

Periods roll over lazily: whenever an account is read for usage, reserved against or settled,
an elapsed trial becomes ``expired`` and an elapsed paid period starts a new one (usage back
to zero) — or ends the plan when it was cancelled at period end. Stripe webhooks move the
period too; whichever comes first wins and the other is a no-op.
"""

from __future__ import annotations

import calendar
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from nova.billing import plans as plan_catalogue
from nova.core import clock
from nova.core.db import is_postgres
from nova.core.errors import PaymentRequired
from nova.core.settings import Settings, get_settings
from nova.models.billing import BillingAccount, MinuteReservation
from nova.models.user import User

PAID_STATUSES = ("active", "trialing")


def open_trial_account(settings: Settings, user: User) -> BillingAccount:
    now = clock.now()
    ends = now + timedelta(days=settings.trial_days)
    return BillingAccount(
        user_id=user.id,
        plan="trial",
        status="trialing",
        period_start=now,
        period_end=ends,
        trial_ends_at=ends,
        seconds_included=settings.trial_minutes * 60,
        created_at=now,
        updated_at=now,
    )


def trial_active(account: BillingAccount | None) -> bool:
    if account is None or account.plan != "trial" or account.status != "trialing":
        return False
    return account.trial_ends_at is not None and account.trial_ends_at > clock.now()


def remaining_seconds(account: BillingAccount) -> int:
    """Included seconds not yet used nor held by a pending reservation (never negative)."""
    return max(0, account.seconds_included - account.seconds_used - account.seconds_reserved)


def overage_seconds(account: BillingAccount) -> int:
    if account.plan == plan_catalogue.TRIAL:
        return 0
    return max(0, account.seconds_used - account.seconds_included)


async def get_account(
    session: AsyncSession, user_id: str, *, for_update: bool = False
) -> BillingAccount | None:
    stmt = select(BillingAccount).where(BillingAccount.user_id == user_id)
    if for_update:
        # Reload even if the session already holds the row: the locked read is the truth.
        stmt = stmt.execution_options(populate_existing=True)
        if is_postgres(session):
            stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


def add_months(when: datetime, months: int = 1) -> datetime:
    """Same day-of-month ``months`` later, clamped to the month's last day (Jan 31 → Feb 28)."""
    month0 = when.month - 1 + months
    year = when.year + month0 // 12
    month = month0 % 12 + 1
    day = min(when.day, calendar.monthrange(year, month)[1])
    return when.replace(year=year, month=month, day=day)


def start_period(account: BillingAccount, start: datetime, end: datetime) -> None:
    """Begin a new billing period: usage back to zero (pending reservations stay held)."""
    account.period_start = start
    account.period_end = end
    account.seconds_used = 0
    account.updated_at = clock.now()


def refresh(account: BillingAccount) -> bool:
    """Apply what the passage of time implies (trial expiry, period rollover, end of a plan
    cancelled at period end). Returns True when the account changed."""
    now = clock.now()
    if account.plan == plan_catalogue.TRIAL:
        if account.status == "trialing" and (
            account.trial_ends_at is None or account.trial_ends_at <= now
        ):
            account.status = "expired"
            account.updated_at = now
            return True
        return False
    if account.period_end > now:
        return False
    if account.cancel_at_period_end or account.status == "canceled":
        if account.status != "canceled":
            account.status = "canceled"
            account.updated_at = now
            return True
        return False
    if account.status not in PAID_STATUSES:
        return False  # past_due / incomplete: wait for Stripe to settle the invoice
    start, end = account.period_start, account.period_end
    while end <= now:
        start, end = end, add_months(end)
    start_period(account, start, end)
    return True


def usable(account: BillingAccount) -> bool:
    if account.plan == plan_catalogue.TRIAL:
        return trial_active(account)
    return account.status in PAID_STATUSES and account.period_end > clock.now()


def allowance_seconds(settings: Settings, account: BillingAccount) -> int | None:
    """Seconds that may still be reserved this period (None = unlimited overage)."""
    if account.plan == plan_catalogue.TRIAL:
        return remaining_seconds(account)
    plan = plan_catalogue.get_plan(settings, account.plan)
    if plan is None or plan.overage_cents_per_minute <= 0:
        return remaining_seconds(account)
    if plan.max_overage_minutes is None:
        return None
    cap = account.seconds_included + plan.max_overage_minutes * 60
    return max(0, cap - account.seconds_used - account.seconds_reserved)


async def reserve(
    session: AsyncSession, user_id: str, call_ids: list[str], seconds_per_call: int
) -> BillingAccount:
    """Hold ``seconds_per_call`` for each call or raise 402. Runs in the caller's
    transaction: if the batch fails later, the rollback releases the hold."""
    settings = get_settings()
    account = await get_account(session, user_id, for_update=True)
    if account is not None:
        refresh(account)
    if account is None or not usable(account):
        if account is not None and account.plan == plan_catalogue.TRIAL:
            raise PaymentRequired("Your trial has ended: subscribe to a plan to keep calling")
        if account is not None and account.status == "past_due":
            raise PaymentRequired("Your last payment failed: update your payment method")
        raise PaymentRequired("No active plan or trial: subscribe to a plan to place calls")
    needed = seconds_per_call * len(call_ids)
    available = allowance_seconds(settings, account)
    if available is not None and needed > available:
        raise PaymentRequired(
            f"Minute limit would be exceeded: this batch needs {needed // 60} minute(s), "
            f"{available // 60} remaining on your {account.plan} plan"
        )
    account.seconds_reserved += needed
    account.updated_at = clock.now()
    for call_id in call_ids:
        session.add(
            MinuteReservation(
                account_id=account.id,
                call_id=call_id,
                seconds_reserved=seconds_per_call,
                created_at=clock.now(),
            )
        )
    await session.flush()
    return account


@dataclass
class Settlement:
    reservation: MinuteReservation
    account: BillingAccount
    # Overage seconds this call added (what a Stripe meter is told about).
    overage_seconds: int


def whole_seconds(duration: float | int | None) -> int:
    if duration is None:
        return 0
    return max(0, math.ceil(float(duration) - 1e-9))


async def settle(
    session: AsyncSession,
    call_id: str,
    duration_seconds: float | int | None,
    *,
    reservation: MinuteReservation | None = None,
) -> Settlement | None:
    """Charge a finished call's real duration and release its hold. Idempotent: a second
    settlement of the same call (or a call that reserved nothing) does nothing. A caller
    that has read the call's reservation already passes it as ``reservation``."""
    if reservation is None:
        reservation = (
            await session.execute(
                select(MinuteReservation).where(MinuteReservation.call_id == call_id)
            )
        ).scalar_one_or_none()
    if reservation is None or reservation.settled_at is not None:
        return None
    # Lock order everywhere is account, then reservation (reserve() does the same), so
    # settlements, reservations and the sweep cannot deadlock each other.
    stmt_acc = (
        select(BillingAccount)
        .where(BillingAccount.id == reservation.account_id)
        .execution_options(populate_existing=True)
    )
    if is_postgres(session):
        stmt_acc = stmt_acc.with_for_update()
    account = (await session.execute(stmt_acc)).scalar_one()
    # Claim the reservation (conditional update): of two concurrent settlements of the same
    # call exactly one charges it.
    now = clock.now()
    claimed = await session.execute(
        update(MinuteReservation)
        .where(MinuteReservation.id == reservation.id, MinuteReservation.settled_at.is_(None))
        .values(settled_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        return None
    refresh(account)
    used = whole_seconds(duration_seconds)
    before = overage_seconds(account)
    if account.plan == plan_catalogue.TRIAL:
        charged = min(used, max(0, account.seconds_included - account.seconds_used))
    else:
        charged = used
    account.seconds_used += charged
    account.seconds_reserved = max(0, account.seconds_reserved - reservation.seconds_reserved)
    account.updated_at = now
    added_overage = overage_seconds(account) - before
    reservation.seconds_used = used
    reservation.seconds_charged = charged
    reservation.seconds_overage = added_overage
    reservation.settled_at = now
    await session.flush()
    return Settlement(reservation, account, added_overage)


async def release_stale(session: AsyncSession, max_age_seconds: int) -> int:
    """Release holds of calls that never reported an end (charged nothing). Returns count."""
    cutoff = clock.now() - timedelta(seconds=max_age_seconds)
    rows = (
        (
            await session.execute(
                select(MinuteReservation.call_id).where(
                    MinuteReservation.settled_at.is_(None), MinuteReservation.created_at < cutoff
                )
            )
        )
        .scalars()
        .all()
    )
    released = 0
    for call_id in rows:
        if await settle(session, call_id, 0) is not None:
            released += 1
    return released


async def call_budget_seconds(session: AsyncSession, call_id: str) -> int | None:
    """How long the call holding ``call_id``'s reservation may run before the account runs
    dry: its own hold plus what is still free (trial, capped plans). ``None`` = no limit
    (paid plans with unlimited overage, or a call that reserved nothing, e.g. anonymous demo
    rooms, which are not metered). The worker ends the call before this many seconds."""
    reservation = (
        await session.execute(select(MinuteReservation).where(MinuteReservation.call_id == call_id))
    ).scalar_one_or_none()
    if reservation is None or reservation.settled_at is not None:
        return None
    account = await session.get(BillingAccount, reservation.account_id)
    if account is None:
        return None
    free = allowance_seconds(get_settings(), account)
    return None if free is None else reservation.seconds_reserved + free
