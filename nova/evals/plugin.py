"""The ``evals.run`` task (loaded through ``PLUGIN_MODULES``): one eval run, in the
background runner, never in a request. See ``service.run_eval``."""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from nova.core.events import task_handler
from nova.core.settings import get_settings
from nova.evals import service
from nova.models.events import Task

log = logging.getLogger("nova.evals")

_settings = get_settings()


@task_handler(
    service.RUN_TASK,
    max_attempts=3,
    retry_delays=(30, 120),
    timeout=_settings.eval_run_timeout_seconds + 60,
)
async def run_eval(session: AsyncSession, payload: dict) -> None:
    eval_id = str(payload.get("eval_id", ""))
    settings = get_settings()
    task = (
        await session.execute(
            select(Task.attempts, Task.max_attempts).where(
                Task.handler == service.RUN_TASK, Task.dedupe_key == eval_id
            )
        )
    ).one_or_none()
    # No transaction is held while the run simulates (on SQLite it would block every
    # other writer): the run writes its progress in short transactions of its own.
    await session.commit()
    try:
        async with asyncio.timeout(settings.eval_run_timeout_seconds):
            await service.run_eval(settings, eval_id)
    except TimeoutError:
        await service.fail(
            eval_id, f"the run did not finish within {settings.eval_run_timeout_seconds:g} s"
        )
    except Exception as exc:
        if task is None or task[0] >= task[1]:
            await service.fail(eval_id, f"{type(exc).__name__}: {exc}")
        raise
