"""Background jobs of the voice domain: cloning enrolment audio at the provider and
deleting revoked clones there (retried until the provider confirms)."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from nova.core import clock
from nova.core.events import Retry, enqueue, task_handler
from nova.core.settings import get_settings
from nova.models.voice import VoiceProfile, VoiceSample
from nova.voice.provider import ProviderError, ProviderNotConfigured, get_provider
from nova.voice.service import CLONE_TASK, DELETE_TASK

log = logging.getLogger("nova.voice")

CLONE_BACKOFF = (5, 30, 120, 600, 1800)
POLL_SECONDS = 30
MAX_POLLS = 120


async def _drop_sample(session: AsyncSession, profile_id: str) -> None:
    q = select(VoiceSample).where(VoiceSample.profile_id == profile_id)
    sample = (await session.execute(q)).scalar_one_or_none()
    if sample is not None:
        await session.delete(sample)


async def _again(session: AsyncSession, profile: VoiceProfile, delay: float, polls: int) -> None:
    key = f"{profile.id}:{profile.process_attempts}:{polls}"
    await enqueue(
        session,
        CLONE_TASK,
        {"profile_id": profile.id, "polls": polls},
        delay=delay,
        dedupe_key=key,
    )


@task_handler(CLONE_TASK, max_attempts=3, retry_delays=(30, 300))
async def clone_voice(session: AsyncSession, payload: dict) -> None:
    settings = get_settings()
    profile = await session.get(VoiceProfile, payload["profile_id"], with_for_update=True)
    if profile is None:
        return
    if profile.status == "revoked":
        await _drop_sample(session, profile.id)
        if profile.provider_voice_id and profile.provider_deleted_at is None:
            await enqueue(session, DELETE_TASK, {"profile_id": profile.id}, dedupe_key=profile.id)
        return
    if profile.status != "processing":
        return
    polls = int(payload.get("polls", 0))
    try:
        provider = get_provider(settings)
        if not profile.provider_voice_id:
            q = select(VoiceSample).where(VoiceSample.profile_id == profile.id)
            sample = (await session.execute(q)).scalar_one_or_none()
            if sample is None:
                raise ProviderError("enrolment audio is missing", permanent=True)
            profile.provider_voice_id = await provider.create_clone(
                name=f"nova-{profile.id}",
                audio=sample.data,
                filename=sample.filename,
                content_type=sample.content_type,
                description=f"Nova voice profile {profile.id}",
            )
            profile.provider = provider.name
        voice = await provider.get_voice(profile.provider_voice_id)
        if voice is None:
            raise ProviderError("voice provider does not know the new voice", permanent=True)
    except ProviderError as exc:
        profile.process_attempts += 1
        if exc.permanent or profile.process_attempts >= settings.voice_clone_max_attempts:
            log.warning("voice profile %s failed: %s", profile.id, exc)
            profile.status = "failed"
            profile.error = str(exc)[:500]
            await _drop_sample(session, profile.id)
            if profile.provider_voice_id:  # a half-made clone must not linger
                await enqueue(
                    session, DELETE_TASK, {"profile_id": profile.id}, dedupe_key=profile.id
                )
        else:
            delay = CLONE_BACKOFF[min(profile.process_attempts - 1, len(CLONE_BACKOFF) - 1)]
            log.info("voice profile %s: provider error, retrying in %ss", profile.id, delay)
            await _again(session, profile, delay, polls)
        return
    if voice.status == "ready":
        profile.status = "ready"
        profile.ready_at = clock.now()
        profile.error = None
        await _drop_sample(session, profile.id)
    elif voice.status == "failed" or polls >= MAX_POLLS:
        profile.status = "failed"
        profile.error = "voice provider could not build the clone"
        await _drop_sample(session, profile.id)
        # The half-built clone is useless: remove it at the provider.
        await enqueue(session, DELETE_TASK, {"profile_id": profile.id}, dedupe_key=profile.id)
    else:
        await _again(session, profile, POLL_SECONDS, polls + 1)


@task_handler(
    DELETE_TASK,
    max_attempts=200,
    retry_delays=(5, 30, 120, 600, 1800, 3600),
)
async def delete_clone(session: AsyncSession, payload: dict) -> None:
    profile = await session.get(VoiceProfile, payload["profile_id"], with_for_update=True)
    if profile is None or profile.provider_deleted_at is not None:
        return
    if not profile.provider_voice_id:
        profile.provider_deleted_at = clock.now()
        return
    try:
        await get_provider(get_settings()).delete_voice(profile.provider_voice_id)
    except ProviderNotConfigured as exc:
        raise Retry(str(exc), delay=3600) from None
    except ProviderError as exc:
        # Retry until the provider confirms; its 404 counts as deleted (handled inside).
        raise Retry(f"provider delete failed: {exc}") from None
    profile.provider_deleted_at = clock.now()
    log.info("voice profile %s: provider clone deleted", profile.id)


__all__ = ["clone_voice", "delete_clone"]
