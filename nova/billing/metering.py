"""Minute metering: the account's allowance, reservations at dispatch, settlement at the end.

Everything is integer seconds. A reservation holds ``seconds`` of the allowance for one call;
``available = included - used - reserved`` must stay >= 0 for plans without overage (the
trial). Reservation takes a row lock on the account (``SELECT … FOR UPDATE`` on PostgreSQL;
SQLite serialises writers), so concurrent batches cannot overspend.
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from nova.core import clock
from nova.core.db import is_postgres
from nova.core.errors import PaymentRequired
from nova.core.settings import Settings
from nova.models.billing import BillingAccount, MinuteReservation
from nova.models.user import User


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
    return max(0, account.seconds_included - account.seconds_used - account.seconds_reserved)


async def get_account(
    session: AsyncSession, user_id: str, *, for_update: bool = False
) -> BillingAccount | None:
    stmt = select(BillingAccount).where(BillingAccount.user_id == user_id)
    if for_update and is_postgres(session):
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


def _usable(account: BillingAccount) -> bool:
    if account.plan == "trial":
        return trial_active(account)
    return account.status in ("active", "trialing") and account.period_end > clock.now()


async def reserve(
    session: AsyncSession, user_id: str, call_ids: list[str], seconds_per_call: int
) -> BillingAccount:
    """Hold ``seconds_per_call`` for each call or raise 402. Runs in the caller's
    transaction: if the batch fails later, the rollback releases the hold."""
    account = await get_account(session, user_id, for_update=True)
    if account is None or not _usable(account):
        raise PaymentRequired(
            "No active plan or trial: subscribe to a plan to place calls"
            if account is None or account.plan != "trial"
            else "Your trial has ended: subscribe to a plan to keep calling"
        )
    needed = seconds_per_call * len(call_ids)
    if needed > remaining_seconds(account):
        raise PaymentRequired(
            f"Minute limit would be exceeded: this batch needs {needed // 60} minute(s), "
            f"{remaining_seconds(account) // 60} remaining on your {account.plan} plan"
        )
    account.seconds_reserved += needed
    account.updated_at = clock.now()
    for call_id in call_ids:
        session.add(
            MinuteReservation(
                account_id=account.id, call_id=call_id, seconds_reserved=seconds_per_call
            )
        )
    await session.flush()
    return account
