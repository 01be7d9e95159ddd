"""Referrals: codes, commission on paid invoices of referred accounts, balances, payouts.

Money is integer cents. The balance lives in ``referral_balances``; a payout moves cents from
available to paid out with ONE conditional UPDATE (``… WHERE earned - paid_out >= amount``),
which PostgreSQL re-checks after waiting on a concurrent writer's row lock and SQLite runs
one writer at a time, so concurrent payout requests can never overdraw the balance.
"""

from __future__ import annotations

import logging
import secrets
from datetime import UTC, datetime

from sqlalchemy import func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from nova.billing.metering import add_months
from nova.billing.schemas import (
    EarningItem,
    EarningsOut,
    PayoutOut,
    PayoutsOut,
    ReferralCodeOut,
    ReferralItem,
    ReferralListOut,
    ReferralStatsOut,
)
from nova.core import clock
from nova.core.db import is_postgres
from nova.core.errors import BadRequest
from nova.core.settings import Settings
from nova.models.billing import Invoice, ReferralBalance, ReferralEarning, ReferralPayout
from nova.models.user import User

log = logging.getLogger("nova.billing.referrals")

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I
CODE_LENGTH = 8


def commission_bps(settings: Settings) -> int:
    return round(settings.referral_commission_rate * 10_000)


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}" if domain else "***"


def share_url(settings: Settings, code: str) -> str:
    base = (settings.referral_share_base_url or settings.public_url).rstrip("/")
    return f"{base}/register?ref={code}"


async def ensure_code(session: AsyncSession, user: User) -> str:
    """The user's referral code, created on first use (unique; retried on a collision)."""
    if user.referral_code:
        return user.referral_code
    for _ in range(8):
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        try:
            async with session.begin_nested():
                result = await session.execute(
                    update(User)
                    .where(User.id == user.id, User.referral_code.is_(None))
                    .values(referral_code=code)
                    .execution_options(synchronize_session=False)
                )
        except IntegrityError:
            continue  # another user holds this code
        await session.refresh(user, ["referral_code"])
        if result.rowcount == 1 or user.referral_code:
            assert user.referral_code is not None
            return user.referral_code
    raise RuntimeError("could not allocate a referral code")


async def code_out(session: AsyncSession, settings: Settings, user: User) -> ReferralCodeOut:
    code = await ensure_code(session, user)
    return ReferralCodeOut(
        code=code,
        commission_rate=settings.referral_commission_rate,
        share_url=share_url(settings, code),
    )


async def _ensure_balance(session: AsyncSession, user_id: str) -> None:
    values = {"user_id": user_id, "earned_cents": 0, "paid_out_cents": 0, "updated_at": clock.now()}
    dialect = postgresql if is_postgres(session) else sqlite
    stmt = dialect.insert(ReferralBalance).values(**values).on_conflict_do_nothing()
    await session.execute(stmt)


async def balance(session: AsyncSession, user_id: str) -> tuple[int, int]:
    """(earned, paid out) in cents."""
    row = (
        await session.execute(
            select(ReferralBalance.earned_cents, ReferralBalance.paid_out_cents).where(
                ReferralBalance.user_id == user_id
            )
        )
    ).first()
    return (int(row[0]), int(row[1])) if row else (0, 0)


async def credit_invoice(
    session: AsyncSession,
    settings: Settings,
    *,
    referred_id: str,
    invoice_id: str,
    amount_cents: int,
    currency: str,
    paid_at: datetime | None = None,
) -> ReferralEarning | None:
    """Commission on one paid invoice of a referred account: once per invoice, only within
    the commission window (months from the referred account's first paid invoice)."""
    referred = await session.get(User, referred_id)
    if referred is None or referred.referred_by_id is None or amount_cents <= 0:
        return None
    if referred.referred_by_id == referred.id:
        return None
    now = clock.now()
    paid_at = paid_at or now
    first = (
        await session.execute(
            select(func.min(Invoice.paid_at)).where(
                Invoice.user_id == referred_id, Invoice.status == "paid"
            )
        )
    ).scalar_one_or_none()
    if first is not None and first.tzinfo is None:
        first = first.replace(tzinfo=UTC)
    if first is not None and paid_at >= add_months(first, settings.referral_commission_months):
        log.info("invoice %s is past the referral window", invoice_id)
        return None
    bps = commission_bps(settings)
    earning = ReferralEarning(
        referrer_id=referred.referred_by_id,
        referred_id=referred_id,
        stripe_invoice_id=invoice_id,
        invoice_amount_cents=amount_cents,
        commission_bps=bps,
        amount_cents=amount_cents * bps // 10_000,
        currency=currency,
        created_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(earning)
            await session.flush()
    except IntegrityError:
        return None  # already credited
    await _ensure_balance(session, earning.referrer_id)
    await session.execute(
        update(ReferralBalance)
        .where(ReferralBalance.user_id == earning.referrer_id)
        .values(earned_cents=ReferralBalance.earned_cents + earning.amount_cents, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return earning


async def request_payout(
    session: AsyncSession, settings: Settings, user: User, amount_cents: int, method: str
) -> PayoutOut:
    minimum = settings.referral_payout_min_cents
    if amount_cents < minimum:
        raise BadRequest(f"The minimum payout is {minimum} cents")
    await _ensure_balance(session, user.id)
    now = clock.now()
    moved = await session.execute(
        update(ReferralBalance)
        .where(
            ReferralBalance.user_id == user.id,
            ReferralBalance.earned_cents - ReferralBalance.paid_out_cents >= amount_cents,
        )
        .values(paid_out_cents=ReferralBalance.paid_out_cents + amount_cents, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        earned, paid = await balance(session, user.id)
        raise BadRequest(f"Payout exceeds your available balance ({earned - paid} cents available)")
    payout = ReferralPayout(
        user_id=user.id, amount_cents=amount_cents, method=method, created_at=now
    )
    session.add(payout)
    await session.flush()
    return PayoutOut.model_validate(payout, from_attributes=True)


async def payouts(session: AsyncSession, user: User, limit: int, offset: int) -> PayoutsOut:
    rows = (
        await session.execute(
            select(ReferralPayout)
            .where(ReferralPayout.user_id == user.id)
            .order_by(ReferralPayout.created_at.desc(), ReferralPayout.id)
            .limit(limit)
            .offset(offset)
        )
    ).scalars()
    total = (
        await session.execute(
            select(func.count())
            .select_from(ReferralPayout)
            .where(ReferralPayout.user_id == user.id)
        )
    ).scalar_one()
    earned, paid = await balance(session, user.id)
    return PayoutsOut(
        items=[PayoutOut.model_validate(p, from_attributes=True) for p in rows],
        total=total,
        limit=limit,
        offset=offset,
        available_balance_cents=earned - paid,
    )


async def _paid_since(session: AsyncSession, user_ids: list[str]) -> dict[str, object]:
    if not user_ids:
        return {}
    rows = await session.execute(
        select(Invoice.user_id, func.min(Invoice.created_at))
        .where(Invoice.user_id.in_(user_ids), Invoice.status == "paid")
        .group_by(Invoice.user_id)
    )
    return {uid: when for uid, when in rows}


async def stats(session: AsyncSession, settings: Settings, user: User) -> ReferralStatsOut:
    referred_ids = list(
        (await session.execute(select(User.id).where(User.referred_by_id == user.id))).scalars()
    )
    converted = await _paid_since(session, referred_ids)
    earned, paid = await balance(session, user.id)
    return ReferralStatsOut(
        referrals=len(referred_ids),
        pending_signups=len(referred_ids) - len(converted),
        conversions=len(converted),
        total_earnings_cents=earned,
        available_balance_cents=earned - paid,
        paid_out_cents=paid,
        commission_rate=settings.referral_commission_rate,
    )


async def referral_list(
    session: AsyncSession, user: User, limit: int, offset: int
) -> ReferralListOut:
    base = select(User).where(User.referred_by_id == user.id)
    total = (await session.execute(select(func.count()).select_from(base.subquery()))).scalar_one()
    users = list(
        (
            await session.execute(
                base.order_by(User.created_at.desc(), User.id).limit(limit).offset(offset)
            )
        ).scalars()
    )
    ids = [u.id for u in users]
    converted = await _paid_since(session, ids)
    earnings: dict[str, int] = {}
    if ids:
        rows = await session.execute(
            select(ReferralEarning.referred_id, func.sum(ReferralEarning.amount_cents))
            .where(ReferralEarning.referrer_id == user.id, ReferralEarning.referred_id.in_(ids))
            .group_by(ReferralEarning.referred_id)
        )
        earnings = {rid: int(total or 0) for rid, total in rows}
    return ReferralListOut(
        items=[
            ReferralItem(
                id=u.id,
                email=mask_email(u.email),
                status="converted" if u.id in converted else "signed_up",
                signed_up_at=u.created_at,
                converted_at=converted.get(u.id),  # type: ignore[arg-type]
                earnings_cents=earnings.get(u.id, 0),
            )
            for u in users
        ],
        total=total,
        limit=limit,
        offset=offset,
    )


async def earnings(session: AsyncSession, user: User, limit: int, offset: int) -> EarningsOut:
    where = ReferralEarning.referrer_id == user.id
    rows = (
        await session.execute(
            select(ReferralEarning, User.email)
            .join(User, User.id == ReferralEarning.referred_id)
            .where(where)
            .order_by(ReferralEarning.created_at.desc(), ReferralEarning.id)
            .limit(limit)
            .offset(offset)
        )
    ).all()
    total, total_cents = (
        await session.execute(
            select(func.count(), func.coalesce(func.sum(ReferralEarning.amount_cents), 0)).where(
                where
            )
        )
    ).one()
    return EarningsOut(
        items=[
            EarningItem(
                id=e.id,
                referred_email=mask_email(email),
                invoice_id=e.stripe_invoice_id,
                invoice_amount_cents=e.invoice_amount_cents,
                commission_rate=e.commission_bps / 10_000,
                amount_cents=e.amount_cents,
                currency=e.currency,
                created_at=e.created_at,
            )
            for e, email in rows
        ],
        total=int(total),
        total_cents=int(total_cents),
        limit=limit,
        offset=offset,
    )
