"""Call recordings: LiveKit Egress records the call's room (audio only) straight to
S3-compatible storage; LiveKit's own webhooks tell Nova where the file is; owners get a
short-lived presigned link and can delete the file; retention deletes it too.

Off by default. An account turns it on (``PUT /v1/records/settings`` with
``recording_enabled``) once the server has storage (``NOVA_RECORDING_S3_*``) and LiveKit;
its calls then open with the recording notice in the call's language (``with_notice``).

1. ``call.started`` → ``start_recording``: a room-composite egress, audio only, OGG, with
   the bucket's credentials in the request (LiveKit uploads; Nova never handles audio).
2. ``POST /v1/livekit/webhook`` (LiveKit's webhook, verified with livekit-api's
   ``WebhookReceiver``: the JWT in ``Authorization`` signs the body's SHA-256, expired or
   forged tokens are refused) → ``egress_started`` / ``egress_updated`` / ``egress_ended``
   update the recording; ``room_finished`` stops an egress still running.
3. ``GET /v1/calls/{id}/recording`` → a presigned GET URL valid
   ``recording_url_ttl_seconds`` (``status: not_recorded`` for a call without one);
   ``DELETE`` removes the object.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from nova.core import clock
from nova.core.errors import NotFound, ServiceUnavailable, Unauthorized
from nova.core.settings import Settings
from nova.models.calls import Call
from nova.models.records import CallRecording, RecordSettings
from nova.models.user import User
from nova.telephony.metadata import Brief

log = logging.getLogger("nova.records.recordings")

# Said before the opening line when the call is recorded (per language).
NOTICE = {
    "en": "Just so you know, this call is recorded.",
    "ar-AE": "للعلم، هذه المكالمة مسجلة.",
}
NOT_CONFIGURED = (
    "Recordings need storage and LiveKit: set NOVA_RECORDING_S3_BUCKET, "
    "NOVA_RECORDING_S3_ACCESS_KEY, NOVA_RECORDING_S3_SECRET_KEY and LIVEKIT_*"
)


def with_notice(brief: Brief, language: str) -> Brief:
    """The brief whose opening line starts with the recording notice."""
    notice = NOTICE.get(language, NOTICE["en"])
    return brief.model_copy(update={"opening_line": f"{notice} {brief.opening_line}"})


async def recording_on(session: AsyncSession, settings: Settings, user_id: str | None) -> bool:
    if user_id is None or not settings.recordings_configured:
        return False
    row = await session.get(RecordSettings, user_id)
    return row is not None and row.recording_enabled


def object_key(settings: Settings, call: Call) -> str:
    prefix = settings.recording_s3_prefix.strip("/")
    return f"{prefix}/{call.user_id}/{call.id}.ogg"


# --- S3 (boto3; presigning is local, deletes run in a thread) -------------------------------


@lru_cache(maxsize=4)
def _s3(endpoint: str | None, region: str, key: str, secret: str, path_style: bool) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint or None,
        region_name=region,
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=Config(
            signature_version="s3v4",
            s3={"addressing_style": "path" if path_style else "auto"},
            retries={"max_attempts": 3},
        ),
    )


def s3_client(settings: Settings) -> Any:
    if not settings.recordings_configured:
        raise ServiceUnavailable(NOT_CONFIGURED)
    assert settings.recording_s3_secret_key is not None
    return _s3(
        settings.recording_s3_endpoint,
        settings.recording_s3_region,
        settings.recording_s3_access_key or "",
        settings.recording_s3_secret_key.get_secret_value(),
        settings.recording_s3_force_path_style,
    )


# --- starting and stopping the egress --------------------------------------------------------


def _livekit(settings: Settings) -> Any:
    """A LiveKit server API client (egress calls are rare: one per recorded call)."""
    from livekit import api

    assert settings.livekit_api_secret is not None
    return api.LiveKitAPI(
        settings.livekit_url,
        settings.livekit_api_key,
        settings.livekit_api_secret.get_secret_value(),
    )


async def start_recording(session: AsyncSession, settings: Settings, call_id: str) -> None:
    """On ``call.started``: start the room's egress when the account records its calls.
    Idempotent (one recording per call); a LiveKit error raises, so the task retries."""
    call = await session.get(Call, call_id)
    if call is None or not await recording_on(session, settings, call.user_id):
        return
    if await session.get(CallRecording, call.id) is not None:
        return
    from livekit import api

    assert settings.recording_s3_secret_key is not None
    key = object_key(settings, call)
    s3 = api.S3Upload(
        access_key=settings.recording_s3_access_key or "",
        secret=settings.recording_s3_secret_key.get_secret_value(),
        region=settings.recording_s3_region,
        endpoint=settings.recording_s3_endpoint or "",
        bucket=settings.recording_s3_bucket or "",
        force_path_style=settings.recording_s3_force_path_style,
    )
    request = api.RoomCompositeEgressRequest(
        room_name=call.room_name,
        audio_only=True,
        file_outputs=[
            api.EncodedFileOutput(file_type=api.EncodedFileType.OGG, filepath=key, s3=s3)
        ],
    )
    async with _livekit(settings) as lk:
        info = await lk.egress.start_room_composite_egress(request)
    now = clock.now()
    session.add(
        CallRecording(
            call_id=call.id,
            user_id=call.user_id,
            egress_id=info.egress_id,
            status="starting",
            bucket=settings.recording_s3_bucket or "",
            object_key=key,
            created_at=now,
            updated_at=now,
        )
    )
    log.info("recording call %s (egress %s)", call.id, info.egress_id)


async def stop_recording(settings: Settings, egress_id: str) -> None:
    from livekit import api

    try:
        async with _livekit(settings) as lk:
            await lk.egress.stop_egress(api.StopEgressRequest(egress_id=egress_id))
    except api.TwirpError as exc:
        if exc.status not in (404, 412):  # already over
            raise


# --- LiveKit's webhooks ----------------------------------------------------------------------


def verify_webhook(settings: Settings, body: bytes, authorization: str | None) -> Any:
    """The ``WebhookEvent`` if LiveKit signed this body, else 401."""
    if not settings.livekit_configured or settings.livekit_api_secret is None:
        raise ServiceUnavailable("LiveKit is not configured")
    if not authorization:
        raise Unauthorized("Missing LiveKit webhook signature", headers={})
    from livekit import api

    receiver = api.WebhookReceiver(
        api.TokenVerifier(
            settings.livekit_api_key or "", settings.livekit_api_secret.get_secret_value()
        )
    )
    try:
        return receiver.receive(body.decode("utf-8", "replace"), authorization)
    except Exception as exc:  # noqa: BLE001 - any failure to verify is a 401
        log.warning("LiveKit webhook refused: %s", type(exc).__name__)
        raise Unauthorized("Invalid LiveKit webhook signature", headers={}) from None


async def handle_webhook(session: AsyncSession, settings: Settings, event: Any) -> dict:
    from livekit import api

    kind = event.event
    if kind.startswith("egress_"):
        info = event.egress_info
        row = (
            await session.execute(
                select(CallRecording).where(CallRecording.egress_id == info.egress_id)
            )
        ).scalar_one_or_none()
        if row is None or row.status == "deleted":
            return {"ok": True, "ignored": True}
        status = info.status
        if status in (api.EgressStatus.EGRESS_STARTING, api.EgressStatus.EGRESS_ACTIVE):
            if row.status == "starting":
                row.status = "active"
        elif status == api.EgressStatus.EGRESS_COMPLETE:
            row.status = "ready"
            files = list(info.file_results)
            if files:
                row.size_bytes = int(files[0].size) or None
                row.duration_seconds = round(files[0].duration / 1e9, 2) or None
                if files[0].filename:
                    row.object_key = files[0].filename
            row.ended_at = clock.now()
        elif status in (
            api.EgressStatus.EGRESS_FAILED,
            api.EgressStatus.EGRESS_ABORTED,
            api.EgressStatus.EGRESS_LIMIT_REACHED,
        ):
            row.status = "failed"
            row.error = (info.error or api.EgressStatus.Name(status))[:1000]
            row.ended_at = clock.now()
        row.updated_at = clock.now()
        return {"ok": True, "status": row.status}
    if kind == "room_finished":
        call = (
            await session.execute(select(Call).where(Call.room_name == event.room.name))
        ).scalar_one_or_none()
        row = await session.get(CallRecording, call.id) if call is not None else None
        if row is not None and row.status in ("starting", "active") and row.egress_id:
            await stop_recording(settings, row.egress_id)
        return {"ok": True}
    return {"ok": True, "ignored": True}


# --- the owner's view --------------------------------------------------------------------


class RecordingOut(BaseModel):
    call_id: str
    status: str
    url: str | None
    expires_at: datetime | None
    duration_seconds: float | None
    size_bytes: int | None
    error: str | None


async def get_recording(session: AsyncSession, settings: Settings, call: Call) -> RecordingOut:
    row = await session.get(CallRecording, call.id)
    if row is None:
        return RecordingOut(
            call_id=call.id,
            status="not_recorded",
            url=None,
            expires_at=None,
            duration_seconds=None,
            size_bytes=None,
            error=None,
        )
    url = expires = None
    if row.status == "ready":
        ttl = settings.recording_url_ttl_seconds
        url = s3_client(settings).generate_presigned_url(
            "get_object", Params={"Bucket": row.bucket, "Key": row.object_key}, ExpiresIn=ttl
        )
        expires = clock.now() + timedelta(seconds=ttl)
    return RecordingOut(
        call_id=call.id,
        status=row.status,
        url=url,
        expires_at=expires,
        duration_seconds=row.duration_seconds,
        size_bytes=row.size_bytes,
        error=row.error,
    )


async def delete_recording(settings: Settings, row: CallRecording) -> None:
    """Delete the object (idempotent: S3 answers 204 for a missing key too)."""
    if row.status == "deleted":
        return
    if row.status in ("starting", "active") and row.egress_id:
        await stop_recording(settings, row.egress_id)
    client = s3_client(settings)
    await asyncio.to_thread(client.delete_object, Bucket=row.bucket, Key=row.object_key)
    row.status = "deleted"
    row.deleted_at = row.updated_at = clock.now()


async def delete_for_owner(
    session: AsyncSession, settings: Settings, call_id: str, user: User
) -> None:
    from nova.records.service import owned_call

    call = await owned_call(session, call_id, user)
    row = await session.get(CallRecording, call.id)
    if row is None or row.status == "deleted":
        raise NotFound("This call has no recording")
    await delete_recording(settings, row)
