"""Background jobs of BYO Twilio: LiveKit trunk deletions that failed inline."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from nova.core.events import Retry, task_handler
from nova.core.settings import get_settings
from nova.twilio_byo.service import DELETE_LIVEKIT_TRUNK_TASK, delete_livekit_trunk


@task_handler(
    DELETE_LIVEKIT_TRUNK_TASK, max_attempts=100, retry_delays=(5, 30, 120, 600, 1800, 3600)
)
async def delete_trunk(session: AsyncSession, payload: dict) -> None:
    settings = get_settings()
    if not settings.livekit_configured:
        raise Retry("LiveKit is not configured", delay=3600)
    try:
        await delete_livekit_trunk(settings, payload["trunk_id"])
    except Exception as exc:  # noqa: BLE001
        raise Retry(f"livekit trunk deletion failed: {type(exc).__name__}") from None
