"""Custom voice cloning — /voice/* (behind the ``voice_cloning`` flag: 404 while off)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request, Response, status

from nova.api.app import BODY_LIMIT_OVERRIDES
from nova.api.deps import CurrentUser, SessionDep, SettingsDep, client_ip
from nova.core.errors import NotFound, UnsupportedMediaType
from nova.models.user import User
from nova.models.voice import VoiceConsent
from nova.voice import service
from nova.voice.schemas import (
    ConsentOut,
    ConsentSign,
    ConsentSigned,
    EnrollAccepted,
    PreviewRequest,
    ProfileList,
    ProfileOut,
    RevokedOut,
)
from nova.voice.upload import AUDIO_CONTENT_TYPES, read_audio_upload, sniff_audio


async def _voice_flag(user: CurrentUser) -> None:
    """404 on every /voice route (before body validation) while the flag is off."""
    service.require_flag(user)


router = APIRouter(prefix="/voice", tags=["voice"], dependencies=[Depends(_voice_flag)])

# The body cap for enrolment: the audio cap plus room for the multipart framing. The
# endpoint itself counts audio bytes while streaming and answers 413 at the audio cap.
BODY_LIMIT_OVERRIDES["/voice/enroll"] = service.MAX_AUDIO_BYTES + 256 * 1024


@router.get("/consent", response_model=ConsentOut)
async def get_consent(user: CurrentUser, session: SessionDep):
    latest = await service.latest_consent(session, user.id)
    return ConsentOut(
        version=service.CURRENT_CONSENT_VERSION,
        text=service.consent_text(),
        signed_version=latest.version if latest else None,
        signed_at=latest.signed_at if latest else None,
    )


@router.post("/consent", status_code=status.HTTP_201_CREATED, response_model=ConsentSigned)
async def sign_consent(
    body: ConsentSign,
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
):
    consent = await service.sign_consent(
        session,
        user,
        version=body.version,
        typed_name=body.typed_name,
        ip=client_ip(request, settings),
        user_agent=request.headers.get("user-agent"),
    )
    return ConsentSigned(
        id=consent.id,
        version=consent.version,
        typed_name=consent.typed_name,
        signed_at=consent.signed_at,
    )


@router.post(
    "/enroll",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=EnrollAccepted,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "required": ["audio"],
                        "properties": {
                            "audio": {"type": "string", "format": "binary"},
                            "name": {"type": "string", "maxLength": 100},
                        },
                    }
                }
            },
        }
    },
)
async def enroll(request: Request, user: CurrentUser, session: SessionDep, settings: SettingsDep):
    """Upload enrolment audio (multipart field ``audio``: wav, mp3, m4a, ogg, webm or flac,
    at most 16 MB). Checks, in order: flag (404), region (451), consent (403 none / 409
    stale), one attempt per 24 h (429), size (413), audio type (415); 503 when no voice
    provider is configured."""
    service.require_provider(settings)
    service.check_region(request, settings, user)
    consent = await service.require_current_consent(session, user)
    await service.check_enroll_rate(session, settings, user)
    user_id, consent_id = user.id, consent.id
    # Nothing was written yet: end the read transaction so a slow 16 MB upload holds no
    # database connection (nor SQLite's write lock) while it streams in.
    await session.rollback()
    upload = await read_audio_upload(request, service.MAX_AUDIO_BYTES)
    fmt = sniff_audio(upload.data[:64])
    if fmt is None:
        raise UnsupportedMediaType(
            "Unsupported audio: upload wav, mp3, m4a, ogg, webm or flac (checked by content)"
        )
    name = " ".join(upload.fields.get("name", "").split())[:100] or "My voice"
    user = await session.get(User, user_id, populate_existing=True)
    consent = await session.get(VoiceConsent, consent_id)
    if user is None or consent is None:  # deleted meanwhile
        raise NotFound("Not Found")
    # Re-checked under a lock on the user row: two concurrent uploads make one attempt.
    await service.check_enroll_rate(session, settings, user, lock=True)
    profile = await service.create_profile(
        session,
        user,
        consent,
        name=name,
        audio=upload.data,
        audio_format=fmt,
        filename=upload.filename,
        content_type=AUDIO_CONTENT_TYPES[fmt],
    )
    return EnrollAccepted(id=profile.id, profile_id=profile.id)


@router.get("/status/{profile_id}", response_model=ProfileOut)
async def profile_status(profile_id: str, user: CurrentUser, session: SessionDep):
    return ProfileOut.of(await service.get_profile(session, user, profile_id))


@router.post(
    "/preview/{profile_id}",
    response_class=Response,
    responses={200: {"content": {"audio/mpeg": {}}, "description": "Synthesized MP3 audio"}},
)
async def preview(
    profile_id: str,
    body: PreviewRequest,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
):
    audio = await service.preview(session, settings, user, profile_id, body.text)
    return Response(content=audio, media_type="audio/mpeg")


@router.post("/activate/{profile_id}", response_model=ProfileOut)
async def activate(profile_id: str, user: CurrentUser, session: SessionDep):
    return ProfileOut.of(await service.activate(session, user, profile_id))


@router.get("/profiles", response_model=ProfileList)
async def profiles(user: CurrentUser, session: SessionDep):
    items = await service.list_profiles(session, user)
    active = next((p.id for p in items if p.active and p.status == "ready"), None)
    return ProfileList(profiles=[ProfileOut.of(p) for p in items], active_profile_id=active)


@router.delete("/{profile_id}", response_model=RevokedOut)
async def revoke(profile_id: str, user: CurrentUser, session: SessionDep):
    profile = await service.revoke(session, user, profile_id)
    return RevokedOut(
        id=profile.id, provider_deletion="done" if profile.provider_deleted_at else "pending"
    )
