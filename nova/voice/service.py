"""Voice cloning: consent, enrolment, background cloning, preview, activation, revocation.

Services flush, never commit. Provider calls that must not be repeated on a retry record
their result in a separate short transaction (``session_scope``) so the task that made
them can resume where it stopped.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
from datetime import timedelta

from fastapi import Request
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from nova.accounts.service import has_feature
from nova.core import clock
from nova.core.errors import (
    Conflict,
    Forbidden,
    NotFound,
    ServiceUnavailable,
    TooManyRequests,
    UnavailableForLegalReasons,
    UpstreamError,
)
from nova.core.events import enqueue
from nova.core.settings import Settings
from nova.models.user import User
from nova.models.voice import VoiceConsent, VoiceProfile, VoiceSample
from nova.voice.provider import ProviderError, ProviderNotConfigured, get_provider

log = logging.getLogger("nova.voice")

FLAG = "voice_cloning"
MAX_AUDIO_BYTES = 16 * 1024 * 1024
PREVIEW_MAX_CHARS = 300
CLONE_TASK = "voice.clone"
DELETE_TASK = "voice.delete_clone"

# Consent texts are versioned in code. Publishing a new version makes every older
# signature stale: enrolment then needs a fresh signature of the current text.
CONSENT_TEXTS: dict[str, str] = {
    "2026-06-01": (
        "Voice cloning consent (version 2026-06-01)\n\n"
        "I confirm that the voice in the audio I upload is my own, or that I have the "
        "documented, revocable permission of the person whose voice it is. I authorise Nova "
        "and its voice provider to create a synthetic copy of this voice solely to speak on "
        "outbound calls placed from my account. The voice will always be used by an AI agent "
        "that does not claim to be a human when asked. I will not use it to impersonate, "
        "deceive or defraud anyone. I can revoke this profile at any time; revoking deletes "
        "the synthetic voice at the provider. Enrolment audio is deleted once processing "
        "ends. By typing my full name I sign this consent electronically."
    ),
}
CURRENT_CONSENT_VERSION = "2026-06-01"

# EU member states, the other EEA states (IS, LI, NO) and the United Kingdom (GB, UK and
# XI for Northern Ireland); also the EU's outermost regions that carry their own codes.
RESTRICTED_COUNTRIES = frozenset(
    [
        "AT",
        "BE",
        "BG",
        "HR",
        "CY",
        "CZ",
        "DK",
        "EE",
        "FI",
        "FR",
        "DE",
        "GR",
        "EL",
        "HU",
        "IE",
        "IT",
        "LV",
        "LT",
        "LU",
        "MT",
        "NL",
        "PL",
        "PT",
        "RO",
        "SK",
        "SI",
        "ES",
        "SE",
        "IS",
        "LI",
        "NO",
        "GB",
        "UK",
        "XI",
        "GF",
        "GP",
        "MQ",
        "RE",
        "YT",
        "MF",
        "AX",
    ]
)


def require_flag(user: User) -> None:
    if not has_feature(user, FLAG):
        raise NotFound("Not Found")


def consent_text(version: str = CURRENT_CONSENT_VERSION) -> str:
    return CONSENT_TEXTS[version]


def _text_sha256(version: str) -> str:
    return hashlib.sha256(CONSENT_TEXTS[version].encode()).hexdigest()


async def sign_consent(
    session: AsyncSession,
    user: User,
    *,
    version: str,
    typed_name: str,
    ip: str | None,
    user_agent: str | None,
) -> VoiceConsent:
    if version != CURRENT_CONSENT_VERSION:
        raise Conflict(
            f"Stale consent version {version!r}: the current version is "
            f"{CURRENT_CONSENT_VERSION!r} (GET /voice/consent)"
        )
    consent = VoiceConsent(
        user_id=user.id,
        version=version,
        text_sha256=_text_sha256(version),
        typed_name=typed_name,
        ip=(ip or "")[:64] or None,
        user_agent=(user_agent or "")[:300] or None,
        signed_at=clock.now(),
    )
    session.add(consent)
    await session.flush()
    return consent


async def latest_consent(session: AsyncSession, user_id: str) -> VoiceConsent | None:
    q = (
        select(VoiceConsent)
        .where(VoiceConsent.user_id == user_id)
        .order_by(VoiceConsent.signed_at.desc())
        .limit(1)
    )
    return (await session.execute(q)).scalar_one_or_none()


async def require_current_consent(session: AsyncSession, user: User) -> VoiceConsent:
    """403 without any signature; 409 when only an older version was signed."""
    q = select(VoiceConsent).where(
        VoiceConsent.user_id == user.id, VoiceConsent.version == CURRENT_CONSENT_VERSION
    )
    consent = (await session.execute(q.order_by(VoiceConsent.signed_at.desc()).limit(1))).scalar()
    if consent is not None:
        return consent
    if await latest_consent(session, user.id) is not None:
        raise Conflict(
            f"Stale consent version: sign consent version {CURRENT_CONSENT_VERSION!r} "
            "(POST /voice/consent) before enrolling"
        )
    raise Forbidden("Consent required: sign the voice cloning consent (POST /voice/consent) first")


def _trusted_peer(request: Request, settings: Settings) -> bool:
    peer = request.client.host if request.client else None
    if not peer or not settings.trusted_proxies:
        return False
    try:
        ip = ipaddress.ip_address(peer)
    except ValueError:
        return False
    for net in settings.trusted_proxies:
        n = ipaddress.ip_network(net, strict=False)
        if ip.version == n.version and ip in n:
            return True
    return False


def request_country(request: Request, settings: Settings) -> str | None:
    """The edge proxy's country header, honoured only when the direct peer is trusted."""
    if not settings.voice_country_header or not _trusted_peer(request, settings):
        return None
    value = request.headers.get(settings.voice_country_header, "").strip().upper()
    return value or None


def require_provider(settings: Settings) -> None:
    if settings.voice_provider_api_key is None:
        raise ServiceUnavailable("Voice cloning is not configured on this server")


def check_region(request: Request, settings: Settings, user: User) -> None:
    countries = {request_country(request, settings), (user.country or "").strip().upper()}
    if countries & RESTRICTED_COUNTRIES:
        raise UnavailableForLegalReasons(
            "Voice cloning is not available in the EU/EEA/UK pending data-protection compliance"
        )


async def check_enroll_rate(
    session: AsyncSession, settings: Settings, user: User, *, lock: bool = False
) -> None:
    """One enrolment attempt per window (default 24 h), counted from accepted uploads."""
    if lock:
        # Serialise concurrent enrolments of one account on its user row.
        await session.execute(select(User.id).where(User.id == user.id).with_for_update())
    window = timedelta(seconds=settings.voice_enroll_window_seconds)
    q = (
        select(VoiceProfile.created_at)
        .where(VoiceProfile.user_id == user.id)
        .order_by(VoiceProfile.created_at.desc())
        .limit(1)
    )
    last = (await session.execute(q)).scalar_one_or_none()
    if last is None:
        return
    wait = (last + window - clock.now()).total_seconds()
    if wait > 0:
        raise TooManyRequests(
            "Enrolment is limited to one attempt per 24 hours", retry_after=int(wait) + 1
        )


async def create_profile(
    session: AsyncSession,
    user: User,
    consent: VoiceConsent,
    *,
    name: str,
    audio: bytes,
    audio_format: str,
    filename: str,
    content_type: str,
) -> VoiceProfile:
    profile = VoiceProfile(
        user_id=user.id,
        consent_id=consent.id,
        name=name,
        audio_format=audio_format,
        audio_bytes=len(audio),
        created_at=clock.now(),
    )
    session.add(profile)
    await session.flush()
    session.add(
        VoiceSample(
            profile_id=profile.id,
            content_type=content_type,
            filename=filename,
            data=audio,
            created_at=clock.now(),
        )
    )
    await enqueue(session, CLONE_TASK, {"profile_id": profile.id}, dedupe_key=profile.id)
    return profile


async def get_profile(
    session: AsyncSession, user: User, profile_id: str, *, lock: bool = False
) -> VoiceProfile:
    """The caller's profile; someone else's, or a revoked one, is a 404. ``lock`` waits for
    a clone job holding the row (PostgreSQL) so the state read is the committed one."""
    profile = await session.get(
        VoiceProfile, profile_id, with_for_update=lock or None, populate_existing=lock
    )
    if profile is None or profile.user_id != user.id or profile.status == "revoked":
        raise NotFound("Voice profile not found")
    return profile


async def list_profiles(session: AsyncSession, user: User) -> list[VoiceProfile]:
    q = (
        select(VoiceProfile)
        .where(VoiceProfile.user_id == user.id, VoiceProfile.status != "revoked")
        .order_by(VoiceProfile.created_at.desc())
    )
    return list((await session.execute(q)).scalars())


async def preview(
    session: AsyncSession, settings: Settings, user: User, profile_id: str, text: str
) -> bytes:
    profile = await get_profile(session, user, profile_id)
    if profile.status != "ready" or not profile.provider_voice_id:
        raise Conflict(f"Voice profile is {profile.status}, not ready")
    try:
        return await get_provider(settings).synthesize(profile.provider_voice_id, text)
    except ProviderNotConfigured:
        raise ServiceUnavailable("Voice provider is not configured") from None
    except ProviderError as exc:
        log.warning("voice preview failed for profile %s: %s", profile.id, exc)
        raise UpstreamError(f"Voice provider error: {exc}") from None


async def activate(session: AsyncSession, user: User, profile_id: str) -> VoiceProfile:
    profile = await get_profile(session, user, profile_id, lock=True)
    if profile.status != "ready":
        raise Conflict(f"Only ready profiles can be activated (this one is {profile.status})")
    await session.execute(
        update(VoiceProfile)
        .where(VoiceProfile.user_id == user.id, VoiceProfile.id != profile.id)
        .values(active=False)
        .execution_options(synchronize_session=False)
    )
    profile.active = True
    await session.flush()
    return profile


async def revoke(session: AsyncSession, user: User, profile_id: str) -> VoiceProfile:
    profile = await get_profile(session, user, profile_id, lock=True)
    profile.status = "revoked"
    profile.active = False
    profile.revoked_at = clock.now()
    sample = (
        await session.execute(select(VoiceSample).where(VoiceSample.profile_id == profile.id))
    ).scalar_one_or_none()
    if sample is not None:
        await session.delete(sample)
    if profile.provider_voice_id:
        await enqueue(session, DELETE_TASK, {"profile_id": profile.id}, dedupe_key=profile.id)
    else:
        # Nothing at the provider yet; a clone job still in flight sees the revocation
        # and deletes what it created.
        profile.provider_deleted_at = clock.now()
    await session.flush()
    return profile


async def active_voice_id(session: AsyncSession, user_id: str) -> str | None:
    """The provider voice id the agent should speak with for this account, if any."""
    user = await session.get(User, user_id)
    if user is None or not has_feature(user, FLAG):
        return None
    q = select(VoiceProfile.provider_voice_id).where(
        VoiceProfile.user_id == user_id,
        VoiceProfile.active.is_(True),
        VoiceProfile.status == "ready",
    )
    return (await session.execute(q.limit(1))).scalar_one_or_none()
