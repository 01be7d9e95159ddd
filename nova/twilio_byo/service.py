"""Bring-your-own Twilio: credentials, number import (SIP path), ownership OTP, caller ID.

Services flush, never commit. Secrets: the API key secret is decrypted only to build a
Twilio client; it never appears in a response, a log line or an error detail.
"""

from __future__ import annotations

import enum
import hmac
import json
import logging
import secrets
import uuid
from datetime import timedelta

from livekit import api as lkapi
from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from twilio.base.exceptions import TwilioRestException

from nova.accounts.service import has_feature
from nova.core import clock
from nova.core.crypto import DecryptionFailed, decrypt, encrypt
from nova.core.errors import (
    BadRequest,
    Conflict,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
    UpstreamError,
)
from nova.core.events import enqueue
from nova.core.security import keyed_hash, random_code
from nova.core.settings import Settings
from nova.models.twilio import TwilioCredential, TwilioNumber, TwilioNumberOtp
from nova.models.user import User
from nova.twilio_byo.client import TWILIO_ERRORS, Creds, describe, make_client

log = logging.getLogger("nova.twilio_byo")

FLAG = "byo_twilio"
DELETE_LIVEKIT_TRUNK_TASK = "twilio_byo.delete_livekit_trunk"


def require_flag(user: User) -> None:
    if not has_feature(user, FLAG):
        raise NotFound("Not Found")


# --- credentials ------------------------------------------------------------------------


async def get_credential(session: AsyncSession, user_id: str) -> TwilioCredential | None:
    q = select(TwilioCredential).where(TwilioCredential.user_id == user_id)
    return (await session.execute(q)).scalar_one_or_none()


def _creds(settings: Settings, row: TwilioCredential) -> Creds:
    try:
        raw = json.loads(decrypt(row.encrypted, settings))
    except DecryptionFailed:
        raise ServiceUnavailable(
            "Stored Twilio credentials cannot be decrypted with the configured "
            "NOVA_ENCRYPTION_KEY; store them again"
        ) from None
    return Creds(raw["account_sid"], raw["api_key_sid"], raw["api_key_secret"])


def _try_creds(settings: Settings, row: TwilioCredential) -> Creds | None:
    """The credentials, or None when they cannot be decrypted (key missing or rotated out)."""
    try:
        return _creds(settings, row)
    except ServiceUnavailable:  # includes EncryptionNotConfigured
        return None


async def _require_creds(
    session: AsyncSession, settings: Settings, user: User
) -> tuple[TwilioCredential, Creds]:
    row = await get_credential(session, user.id)
    if row is None:
        raise BadRequest("Store your Twilio credentials first (POST /twilio/credentials)")
    return row, _creds(settings, row)


async def _numbers(session: AsyncSession, user_id: str) -> list[TwilioNumber]:
    q = select(TwilioNumber).where(TwilioNumber.user_id == user_id)
    return list((await session.execute(q.order_by(TwilioNumber.created_at))).scalars())


async def store_credentials(
    session: AsyncSession,
    settings: Settings,
    user: User,
    *,
    account_sid: str,
    api_key_sid: str,
    api_key_secret: str,
) -> TwilioCredential:
    blob = encrypt(
        json.dumps(
            {
                "account_sid": account_sid,
                "api_key_sid": api_key_sid,
                "api_key_secret": api_key_secret,
            }
        ),
        settings,
    )
    now = clock.now()
    row = await get_credential(session, user.id)
    if row is None:
        row = TwilioCredential(user_id=user.id, encrypted=blob, created_at=now, sid_last4="")
        session.add(row)
    else:
        old = _try_creds(settings, row) if await _numbers(session, user.id) else None
        if old is not None and old.account_sid != account_sid:
            raise Conflict(
                "Numbers from another Twilio account are imported: delete them "
                "(DELETE /twilio/numbers/{id}) before switching accounts"
            )
        row.encrypted = blob
    row.sid_last4 = account_sid[-4:]
    row.status = "stored"
    row.validated_at = None
    row.updated_at = now
    await session.flush()
    log.info("twilio credentials stored for user %s (sid …%s)", user.id, row.sid_last4)
    return row


async def validate(
    session: AsyncSession, settings: Settings, user: User
) -> tuple[TwilioCredential, str | None]:
    row = await get_credential(session, user.id)
    if row is None:
        raise NotFound("No Twilio credentials stored")
    creds = _creds(settings, row)
    client = make_client(settings, creds)
    detail = None
    try:
        account = await client.api.v2010.accounts(creds.account_sid).fetch_async()
        row.status = "valid" if (account.status or "active") == "active" else "invalid"
        if row.status == "invalid":
            detail = f"Twilio account is {account.status}"
    except TwilioRestException as exc:
        if exc.status in (401, 403, 404):
            row.status = "invalid"
            detail = describe(exc, creds)
        else:
            raise UpstreamError(describe(exc, creds)) from None
    except TWILIO_ERRORS as exc:
        raise UpstreamError(describe(exc, creds)) from None
    row.validated_at = clock.now()
    await session.flush()
    return row, detail


async def delete_credentials(
    session: AsyncSession, settings: Settings, user: User
) -> tuple[int, str]:
    row = await get_credential(session, user.id)
    if row is None:
        raise NotFound("No Twilio credentials stored")
    creds = _try_creds(settings, row)
    numbers = await _numbers(session, user.id)
    twilio_cleanup = "done"
    if creds is None and numbers:
        twilio_cleanup = "skipped: stored credentials cannot be decrypted"
    for number in numbers:
        try:
            if creds is not None:
                await _teardown_twilio(settings, creds, number)
        except _CredentialsRejected:
            # The key was revoked at Twilio: nothing more can be removed there.
            twilio_cleanup = "skipped: Twilio rejected the credentials"
        await _teardown_livekit(session, settings, number)
        await session.delete(number)
    await session.delete(row)
    await session.flush()
    log.info("twilio credentials revoked for user %s (%d numbers)", user.id, len(numbers))
    return len(numbers), twilio_cleanup


# --- numbers ----------------------------------------------------------------------------


def _number_out(n) -> dict:
    caps = getattr(n, "capabilities", None) or {}
    return {
        "sid": n.sid,
        "phone_number": n.phone_number,
        "friendly_name": n.friendly_name,
        "capabilities": {k: bool(v) for k, v in dict(caps).items()},
    }


async def available_numbers(session: AsyncSession, settings: Settings, user: User) -> list[dict]:
    _, creds = await _require_creds(session, settings, user)
    client = make_client(settings, creds)
    try:
        items = await client.api.v2010.accounts(
            creds.account_sid
        ).incoming_phone_numbers.list_async(limit=1000)
    except TWILIO_ERRORS as exc:
        raise UpstreamError(describe(exc, creds)) from None
    imported = {n.phone_number for n in await _numbers(session, user.id)}
    return [{**_number_out(n), "imported": n.phone_number in imported} for n in items]


async def get_number(session: AsyncSession, user: User, number_id: str) -> TwilioNumber:
    number = await session.get(TwilioNumber, number_id)
    if number is None or number.user_id != user.id:
        raise NotFound("Number not found")
    return number


async def list_numbers(session: AsyncSession, user: User) -> list[TwilioNumber]:
    return await _numbers(session, user.id)


async def _find_on_account(client, creds: Creds, *, phone_number: str | None, sid: str | None):
    account = client.api.v2010.accounts(creds.account_sid)
    try:
        if sid:
            return await account.incoming_phone_numbers(sid).fetch_async()
        found = await account.incoming_phone_numbers.list_async(phone_number=phone_number, limit=1)
        return found[0] if found else None
    except TwilioRestException as exc:
        if exc.status == 404:
            return None
        raise UpstreamError(describe(exc, creds)) from None
    except TWILIO_ERRORS as exc:
        raise UpstreamError(describe(exc, creds)) from None


async def _taken(session: AsyncSession, phone_number: str) -> bool:
    q = (
        select(func.count())
        .select_from(TwilioNumber)
        .where(TwilioNumber.phone_number == phone_number)
    )
    return bool(await session.scalar(q))


async def import_number(
    session: AsyncSession,
    settings: Settings,
    user: User,
    *,
    phone_number: str | None,
    sid: str | None,
) -> TwilioNumber:
    _, creds = await _require_creds(session, settings, user)
    if not settings.livekit_configured:
        raise ServiceUnavailable("LiveKit is not configured: cannot create the SIP trunk")
    if phone_number and await _taken(session, phone_number):
        raise Conflict("This number is already imported")
    client = make_client(settings, creds)
    incoming = await _find_on_account(client, creds, phone_number=phone_number, sid=sid)
    if incoming is None:
        raise NotFound("Number not found on your Twilio account")
    e164 = incoming.phone_number
    if await _taken(session, e164):
        raise Conflict("This number is already imported")

    number = TwilioNumber(
        user_id=user.id, phone_number=e164, twilio_number_sid=incoming.sid, created_at=clock.now()
    )
    sip_user = f"nova{uuid.uuid4().hex[:12]}"
    # Twilio requires 12+ characters with upper case, lower case and a digit.
    sip_password = secrets.token_urlsafe(24) + "Aa7"
    domain = f"nova-{uuid.uuid4().hex[:16]}.pstn.twilio.com"
    try:
        trunk = await client.trunking.v1.trunks.create_async(
            friendly_name=f"Nova {e164}",
            domain_name=domain,
            # Lets the agent hand a call to the account's transfer number (SIP REFER to a
            # tel: URI, see docs/agent.md "Transfer to a person").
            transfer_mode="enable-all",
        )
        number.twilio_trunk_sid = trunk.sid
        number.termination_uri = trunk.domain_name or domain
        cl = await client.api.v2010.accounts(creds.account_sid).sip.credential_lists.create_async(
            friendly_name=f"Nova {e164}"
        )
        number.twilio_credential_list_sid = cl.sid
        await (
            client.api.v2010.accounts(creds.account_sid)
            .sip.credential_lists(cl.sid)
            .credentials.create_async(username=sip_user, password=sip_password)
        )
        await client.trunking.v1.trunks(trunk.sid).credentials_lists.create_async(
            credential_list_sid=cl.sid
        )
        await client.trunking.v1.trunks(trunk.sid).phone_numbers.create_async(
            phone_number_sid=incoming.sid
        )
    except TWILIO_ERRORS as exc:
        await _cleanup_twilio_quietly(settings, creds, number)
        raise UpstreamError(describe(exc, creds)) from None
    try:
        async with _livekit(settings) as lk:
            info = await lk.sip.create_outbound_trunk(
                lkapi.CreateSIPOutboundTrunkRequest(
                    trunk=lkapi.SIPOutboundTrunkInfo(
                        name=f"nova-byo-{e164}",
                        metadata=json.dumps({"user_id": user.id, "nova": "byo_twilio"}),
                        address=number.termination_uri,
                        numbers=[e164],
                        auth_username=sip_user,
                        auth_password=sip_password,
                    )
                )
            )
        number.livekit_trunk_id = info.sip_trunk_id
    except Exception as exc:  # noqa: BLE001 - any LiveKit failure undoes the Twilio side
        await _cleanup_twilio_quietly(settings, creds, number)
        log.warning("livekit outbound trunk creation failed: %s", type(exc).__name__)
        raise UpstreamError(
            f"LiveKit error: could not create the outbound SIP trunk ({_lk(exc)})"
        ) from None
    try:
        async with session.begin_nested():
            session.add(number)
            await session.flush()
    except IntegrityError:
        await _cleanup_twilio_quietly(settings, creds, number)
        await _teardown_livekit(session, settings, number)
        raise Conflict("This number is already imported") from None
    log.info("imported twilio number %s for user %s", number.id, user.id)
    return number


def _lk(exc: BaseException) -> str:
    if isinstance(exc, lkapi.TwirpError):
        return f"{exc.code}: {exc.message}"[:200]
    return type(exc).__name__


def _livekit(settings: Settings) -> lkapi.LiveKitAPI:
    return lkapi.LiveKitAPI(
        settings.livekit_url,
        settings.livekit_api_key,
        settings.livekit_api_secret.get_secret_value() if settings.livekit_api_secret else None,
    )


class _CredentialsRejected(Exception):
    pass


async def _teardown_twilio(settings: Settings, creds: Creds, number: TwilioNumber) -> None:
    """Delete the Twilio trunk (which releases the number) and its credential list.
    Already-gone resources count as deleted; a rejected key raises _CredentialsRejected;
    other failures are a 502 (nothing was changed in Nova, the call can be repeated)."""
    client = make_client(settings, creds)
    steps = []
    if number.twilio_trunk_sid:
        steps.append(client.trunking.v1.trunks(number.twilio_trunk_sid).delete_async)
    if number.twilio_credential_list_sid:
        steps.append(
            client.api.v2010.accounts(creds.account_sid)
            .sip.credential_lists(number.twilio_credential_list_sid)
            .delete_async
        )
    for step in steps:
        try:
            await step()
        except TwilioRestException as exc:
            if exc.status == 404:
                continue
            if exc.status in (401, 403):
                raise _CredentialsRejected() from None
            raise UpstreamError(describe(exc, creds)) from None
        except TWILIO_ERRORS as exc:
            raise UpstreamError(describe(exc, creds)) from None


async def _cleanup_twilio_quietly(settings: Settings, creds: Creds, number: TwilioNumber) -> None:
    try:
        await _teardown_twilio(settings, creds, number)
    except Exception as exc:  # noqa: BLE001 - best effort after a failed import
        log.warning("cleanup of a half-imported number failed: %s", type(exc).__name__)


async def delete_livekit_trunk(settings: Settings, trunk_id: str) -> None:
    """Raises on failure; a trunk LiveKit does not know counts as deleted."""
    async with _livekit(settings) as lk:
        try:
            await lk.sip.delete_trunk(lkapi.DeleteSIPTrunkRequest(sip_trunk_id=trunk_id))
        except lkapi.TwirpError as exc:
            if exc.code != "not_found":
                raise


async def _teardown_livekit(
    session: AsyncSession, settings: Settings, number: TwilioNumber
) -> None:
    if not number.livekit_trunk_id:
        return
    try:
        await delete_livekit_trunk(settings, number.livekit_trunk_id)
    except Exception as exc:  # noqa: BLE001 - retried in the background
        log.warning(
            "deleting livekit trunk %s failed (%s); retrying in the background",
            number.livekit_trunk_id,
            _lk(exc),
        )
        await enqueue(
            session,
            DELETE_LIVEKIT_TRUNK_TASK,
            {"trunk_id": number.livekit_trunk_id},
            dedupe_key=number.livekit_trunk_id,
        )


async def delete_number(
    session: AsyncSession, settings: Settings, user: User, number_id: str
) -> TwilioNumber:
    number = await get_number(session, user, number_id)
    row = await get_credential(session, user.id)
    if row is not None:
        try:
            await _teardown_twilio(settings, _creds(settings, row), number)
        except _CredentialsRejected:
            raise UpstreamError(
                "Twilio rejected the stored credentials: update them (POST /twilio/credentials) "
                "or revoke them (DELETE /twilio/credentials)"
            ) from None
    await _teardown_livekit(session, settings, number)
    await session.delete(number)
    await session.flush()
    return number


# --- ownership OTP ----------------------------------------------------------------------


def _otp_hash(settings: Settings, number_id: str, code: str) -> str:
    return keyed_hash(settings.jwt_secret.get_secret_value(), f"byo-twilio-otp:{number_id}:{code}")


async def _check_send_limits(session: AsyncSession, settings: Settings, phone: str) -> None:
    now = clock.now()
    for window, limit, label in (
        (timedelta(minutes=10), settings.byo_twilio_otp_per_10min, "10 minutes"),
        (timedelta(hours=24), settings.byo_twilio_otp_per_day, "24 hours"),
    ):
        q = (
            select(TwilioNumberOtp.created_at)
            .where(TwilioNumberOtp.phone_number == phone, TwilioNumberOtp.created_at > now - window)
            .order_by(TwilioNumberOtp.created_at)
        )
        sent = list((await session.execute(q)).scalars())
        if len(sent) >= limit:
            retry = (sent[len(sent) - limit] + window - now).total_seconds()
            raise TooManyRequests(
                f"Verification code limit reached: {limit} per {label} for this number",
                retry_after=int(retry) + 1,
            )


async def send_otp(
    session: AsyncSession, settings: Settings, user: User, number_id: str
) -> TwilioNumberOtp:
    number = await get_number(session, user, number_id)
    if number.status == "active":
        raise Conflict("This number is already verified")
    _, creds = await _require_creds(session, settings, user)
    await _check_send_limits(session, settings, number.phone_number)
    code = random_code(6)
    minutes = max(1, settings.byo_twilio_otp_ttl_seconds // 60)
    body = f"Your Nova verification code is {code}. It expires in {minutes} minutes."
    sender = settings.byo_twilio_otp_sender
    kwargs = (
        {"messaging_service_sid": sender}
        if sender and sender.startswith("MG")
        else {"from_": sender or number.phone_number}
    )
    client = make_client(settings, creds)
    try:
        await client.api.v2010.accounts(creds.account_sid).messages.create_async(
            to=number.phone_number, body=body, **kwargs
        )
    except TWILIO_ERRORS as exc:
        raise UpstreamError(describe(exc, creds)) from None
    now = clock.now()
    # A new code replaces any earlier one.
    await session.execute(
        update(TwilioNumberOtp)
        .where(TwilioNumberOtp.number_id == number.id, TwilioNumberOtp.used_at.is_(None))
        .values(used_at=now)
        .execution_options(synchronize_session=False)
    )
    otp = TwilioNumberOtp(
        user_id=user.id,
        phone_number=number.phone_number,
        number_id=number.id,
        code_hash=_otp_hash(settings, number.id, code),
        expires_at=now + timedelta(seconds=settings.byo_twilio_otp_ttl_seconds),
        created_at=now,
    )
    session.add(otp)
    await session.flush()
    return otp


class VerifyResult(enum.Enum):
    OK = "ok"
    WRONG = "wrong"


async def verify(
    session: AsyncSession, settings: Settings, user: User, number_id: str, code: str
) -> tuple[VerifyResult, TwilioNumber, int]:
    """Check a code. A wrong guess is counted and returned (not raised) so the count is
    committed; the router answers 400 for it. Returns (result, number, attempts left)."""
    number = await get_number(session, user, number_id)
    if number.status == "active":
        return VerifyResult.OK, number, 0
    q = (
        select(TwilioNumberOtp)
        .where(TwilioNumberOtp.number_id == number.id, TwilioNumberOtp.used_at.is_(None))
        .order_by(TwilioNumberOtp.created_at.desc())
        .limit(1)
        .with_for_update()
    )
    otp = (await session.execute(q)).scalar_one_or_none()
    if otp is None:
        raise BadRequest("No verification code is pending: request one (send-otp)")
    if otp.expires_at <= clock.now():
        raise BadRequest("The verification code has expired: request a new one")
    if otp.attempts >= settings.byo_twilio_otp_max_attempts:
        raise TooManyRequests("Too many wrong codes: request a new code")
    if not hmac.compare_digest(otp.code_hash, _otp_hash(settings, number.id, code)):
        otp.attempts += 1
        await session.flush()
        return VerifyResult.WRONG, number, settings.byo_twilio_otp_max_attempts - otp.attempts
    otp.used_at = clock.now()
    number.status = "active"
    number.verified_at = clock.now()
    await session.flush()
    return VerifyResult.OK, number, 0


async def set_default(session: AsyncSession, user: User, number_id: str) -> TwilioNumber:
    number = await get_number(session, user, number_id)
    if number.status != "active":
        raise Conflict("Only verified numbers can be the default caller ID: verify it first")
    await session.execute(
        update(TwilioNumber)
        .where(TwilioNumber.user_id == user.id, TwilioNumber.id != number.id)
        .values(is_default=False)
        .execution_options(synchronize_session=False)
    )
    number.is_default = True
    await session.flush()
    return number


async def default_caller(session: AsyncSession, user_id: str) -> tuple[str, str] | None:
    """(LiveKit outbound trunk id, E.164 caller ID) for this account's SIP calls, or None
    (flag off, no credentials, or no verified default number)."""
    user = await session.get(User, user_id)
    if user is None or not has_feature(user, FLAG):
        return None
    if await get_credential(session, user_id) is None:
        return None
    q = select(TwilioNumber).where(
        TwilioNumber.user_id == user_id,
        TwilioNumber.is_default.is_(True),
        TwilioNumber.status == "active",
    )
    number = (await session.execute(q.limit(1))).scalar_one_or_none()
    if number is None or not number.livekit_trunk_id:
        return None
    return number.livekit_trunk_id, number.phone_number
