"""Accounts: registration, login, profile, password reset. Services flush, never commit."""

from __future__ import annotations

import enum
import hmac
import logging
from datetime import timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from nova.accounts.schemas import FeaturesOut, UserOut
from nova.billing import metering
from nova.core import clock
from nova.core.db import is_postgres
from nova.core.errors import Conflict, Unauthorized
from nova.core.security import (
    hash_password_async,
    keyed_hash,
    needs_rehash,
    random_code,
    verify_password_async,
)
from nova.core.settings import Settings
from nova.models.twilio import TwilioNumber
from nova.models.user import PasswordResetCode, User

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
    # Hashed before the first statement: no transaction (on SQLite, the write lock) is held
    # while argon2 works, and a taken email costs the same time as a new one.
    password_hash = await hash_password_async(password)
    if await get_by_email(session, email) is not None:
        raise Conflict("Email already registered")
    user = User(email=email, password_hash=password_hash, name=name)
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
    # End the read transaction before argon2 runs (~0.1 s): on SQLite every transaction
    # holds the database's write lock, and a storm of logins would hold it back to back.
    # The user stays loaded and attached.
    await session.commit()
    # Unknown emails are verified against a dummy hash: the same work, the same time.
    if not await verify_password_async(password, user.password_hash if user else None):
        raise Unauthorized("Invalid email or password")
    assert user is not None
    if needs_rehash(user.password_hash):
        user.password_hash = await hash_password_async(password)
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
        phone_verified=await _phone_verified(session, user),
        trial_active=active,
        trial_minutes_remaining=round(remaining, 2),
        created_at=user.created_at,
    )


async def _phone_verified(session: AsyncSession, user: User) -> bool:
    """The account's phone is one of its numbers whose ownership a code proved."""
    if not user.phone:
        return False
    found = await session.scalar(
        select(TwilioNumber.id).where(
            TwilioNumber.user_id == user.id,
            TwilioNumber.phone_number == user.phone,
            TwilioNumber.verified_at.is_not(None),
        )
    )
    return found is not None


def features(user: User) -> FeaturesOut:
    flags = user.features or {}
    return FeaturesOut(**{k: bool(flags.get(k, False)) for k in FEATURE_FLAGS})


def has_feature(user: User, flag: str) -> bool:
    return bool((user.features or {}).get(flag, False))


# --- password reset ----------------------------------------------------------------------

GENERIC_FORGOT_MESSAGE = (
    "If an account exists for this email, a 6-digit reset code has been sent. "
    "It is valid for 10 minutes."
)
INVALID_CODE = "Invalid or expired reset code"
TOO_MANY_ATTEMPTS = "Too many attempts for this reset code; request a new one"


async def request_password_reset(
    session: AsyncSession, settings: Settings, email: str
) -> tuple[str, str] | None:
    """Issue a reset code for ``email``. Returns ``(email, code)`` to mail, or None when
    nothing is to be sent (unknown email, or over the hourly limit). The caller always
    answers with the same generic message, whatever this returns."""
    stmt = select(User).where(User.email == email)
    if is_postgres(session):
        # Serialise concurrent requests for one account so the hourly count holds
        # (SQLite already runs one writer at a time).
        stmt = stmt.with_for_update()
    user = (await session.execute(stmt)).scalar_one_or_none()
    if user is None:
        log.info("password reset requested for an unknown email (ignored)")
        return None
    now = clock.now()
    recent = await session.scalar(
        select(func.count())
        .select_from(PasswordResetCode)
        .where(
            PasswordResetCode.email == email,
            PasswordResetCode.sent.is_(True),
            PasswordResetCode.created_at > now - timedelta(hours=1),
        )
    )
    if (recent or 0) >= settings.forgot_password_per_hour:
        log.info("password reset for user %s dropped: hourly limit reached", user.id)
        return None
    # Only the newest code is live: earlier unused ones expire now.
    await session.execute(
        update(PasswordResetCode)
        .where(
            PasswordResetCode.email == email,
            PasswordResetCode.used_at.is_(None),
            PasswordResetCode.expires_at > now,
        )
        .values(expires_at=now)
        .execution_options(synchronize_session=False)
    )
    code = random_code(6)
    session.add(
        PasswordResetCode(
            email=email,
            user_id=user.id,
            code_hash=keyed_hash(settings.jwt_secret.get_secret_value(), code),
            expires_at=now + timedelta(seconds=settings.reset_code_ttl_seconds),
            created_at=now,
        )
    )
    await session.flush()
    log.info("password reset code issued for user %s", user.id)
    return email, code


class ResetOutcome(enum.Enum):
    OK = "ok"
    INVALID = "invalid"  # 400: no code, wrong code, expired or already used
    LOCKED = "locked"  # 429: attempts exhausted


async def reset_password(
    session: AsyncSession, settings: Settings, *, email: str, code: str, new_password: str
) -> ResetOutcome:
    """Check ``code`` against the live code sent to ``email`` and set the new password.

    Returns an outcome instead of raising so that the request still commits the attempt
    counter when the code is wrong. Only the newest code is live; it has at most
    ``reset_code_max_attempts`` verifications, counted atomically (parallel guesses cannot
    exceed the limit). Success marks the code used, proves the email and bumps the user's
    token version, so every token issued before the reset stops working."""
    now = clock.now()
    row = (
        await session.execute(
            select(PasswordResetCode)
            .where(
                PasswordResetCode.email == email,
                PasswordResetCode.sent.is_(True),
                PasswordResetCode.used_at.is_(None),
                PasswordResetCode.expires_at > now,
            )
            .order_by(PasswordResetCode.created_at.desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    if row is None:
        return ResetOutcome.INVALID
    counted = await session.execute(
        update(PasswordResetCode)
        .where(
            PasswordResetCode.id == row.id,
            PasswordResetCode.attempts < settings.reset_code_max_attempts,
        )
        .values(attempts=PasswordResetCode.attempts + 1)
        .returning(PasswordResetCode.attempts)
        .execution_options(synchronize_session=False)
    )
    if counted.scalar_one_or_none() is None:
        return ResetOutcome.LOCKED
    expected = keyed_hash(settings.jwt_secret.get_secret_value(), code.strip())
    if not hmac.compare_digest(expected, row.code_hash):
        return ResetOutcome.INVALID
    user = await session.get(User, row.user_id) if row.user_id else None
    if user is None:
        return ResetOutcome.INVALID
    used = await session.execute(
        update(PasswordResetCode)
        .where(PasswordResetCode.id == row.id, PasswordResetCode.used_at.is_(None))
        .values(used_at=now)
        .returning(PasswordResetCode.id)
        .execution_options(synchronize_session=False)
    )
    if used.scalar_one_or_none() is None:  # a concurrent reset used it first
        return ResetOutcome.INVALID
    user.password_hash = await hash_password_async(new_password)
    user.token_version += 1
    user.email_verified = True
    await session.flush()
    log.info("password reset for user %s", user.id)
    return ResetOutcome.OK
