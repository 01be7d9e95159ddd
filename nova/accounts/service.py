"""Accounts: registration, login, profile. Services flush, never commit."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from nova.accounts.schemas import FeaturesOut, UserOut
from nova.billing import metering
from nova.core.errors import Conflict, Unauthorized
from nova.core.security import hash_password, needs_rehash, verify_password
from nova.core.settings import Settings
from nova.models.user import User

log = logging.getLogger("nova.accounts")

FEATURE_FLAGS = tuple(FeaturesOut.model_fields)


async def get_by_email(session: AsyncSession, email: str) -> User | None:
    return (await session.execute(select(User).where(User.email == email))).scalar_one_or_none()


async def register(
    session: AsyncSession,
    settings: Settings,
    *,
    email: str,
    password: str,
    name: str | None = None,
    referral_code: str | None = None,
) -> User:
    if await get_by_email(session, email) is not None:
        raise Conflict("Email already registered")
    user = User(email=email, password_hash=hash_password(password), name=name)
    if referral_code:
        referrer = (
            await session.execute(select(User).where(User.referral_code == referral_code.strip()))
        ).scalar_one_or_none()
        if referrer is not None:
            user.referred_by_id = referrer.id
        else:
            log.info("registration with unknown referral code ignored")
    try:
        async with session.begin_nested():
            session.add(user)
            await session.flush()
    except IntegrityError as exc:  # a concurrent registration won the race
        raise Conflict("Email already registered") from exc
    session.add(metering.open_trial_account(settings, user))
    await session.flush()
    return user


async def authenticate(session: AsyncSession, email: str, password: str) -> User:
    user = await get_by_email(session, email)
    if not verify_password(password, user.password_hash if user else None) or user is None:
        raise Unauthorized("Invalid email or password")
    if needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    return user


async def user_out(session: AsyncSession, user: User) -> UserOut:
    account = await metering.get_account(session, user.id)
    active = metering.trial_active(account)
    remaining = metering.remaining_seconds(account) / 60 if active and account else 0.0
    return UserOut(
        id=user.id,
        email=user.email,
        name=user.name,
        email_verified=user.email_verified,
        phone=user.phone,
        trial_active=active,
        trial_minutes_remaining=round(remaining, 2),
        created_at=user.created_at,
    )


def features(user: User) -> FeaturesOut:
    flags = user.features or {}
    return FeaturesOut(**{k: bool(flags.get(k, False)) for k in FEATURE_FLAGS})


def has_feature(user: User, flag: str) -> bool:
    return bool((user.features or {}).get(flag, False))
