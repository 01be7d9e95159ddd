"""Quality's event handlers and scheduled jobs (loaded through ``PLUGIN_MODULES``).

- ``call.transcribed`` → a pending score and a ``quality.score`` task (never blocks the
  call pipeline: the judge runs in its own task, with its own retries).
- ``quality.score`` → one judge attempt (see ``service.score_call``).
- ``quality.finetune.step`` → one step of a fine-tune run (see ``finetune``).
- every 15 minutes: queue scoring of calls left pending while no judge was configured.
- nightly: start the fine-tune run (one replica; idempotent per night).
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from nova.core.db import session_scope
from nova.core.events import subscribe, task_handler
from nova.core.runner import once_across_replicas, scheduled
from nova.core.settings import get_settings
from nova.models.events import Event
from nova.quality import finetune, service

log = logging.getLogger("nova.quality")


@subscribe("call.transcribed", name="quality.queue", max_attempts=8)
async def on_call_transcribed(session: AsyncSession, event: Event) -> None:
    data = event.data or {}
    call_id = data.get("call_id")
    if not call_id:
        log.warning("quality: call.transcribed event %s has no call_id", event.id)
        return
    await service.queue_scoring(session, get_settings(), str(call_id), data.get("transcript"))


# Provider errors and invalid judge output are retried by the handler itself (it records
# each attempt on the score row and queues the next one with backoff); these task-level
# retries only cover crashes and timeouts of the task.
@task_handler(service.SCORE_TASK, max_attempts=5, retry_delays=(30, 120, 600, 1800))
async def score_call(session: AsyncSession, payload: dict) -> None:
    await service.score_call(session, get_settings(), payload)


@task_handler(finetune.STEP_TASK, max_attempts=5, retry_delays=(60, 300, 900, 1800))
async def finetune_step(session: AsyncSession, payload: dict) -> None:
    await finetune.advance(session, get_settings(), payload)


@scheduled("quality.requeue_pending", type="interval", minutes=15)
async def requeue_pending() -> int:
    async with once_across_replicas("quality.requeue_pending") as leader:
        if not leader:
            return 0
        async with session_scope() as session:
            return await service.requeue_unconfigured(session, get_settings())


_settings = get_settings()


@scheduled(
    "quality.finetune.nightly",
    type="cron",
    hour=_settings.finetune_hour,
    minute=_settings.finetune_minute,
)
async def finetune_nightly() -> None:
    await finetune.run_nightly()
