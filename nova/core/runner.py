"""The in-process background runner: task pump(s) plus APScheduler for cron-style jobs.

Scheduled jobs that must run once across replicas take a PostgreSQL advisory lock
(``once_across_replicas``); on SQLite there is only one process.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text

from nova.core.db import get_engine
from nova.core.pump import TaskPump
from nova.core.settings import Settings

log = logging.getLogger("nova.runner")


@dataclass
class ScheduledJob:
    name: str
    fn: Callable[[], Awaitable[Any]]
    trigger: dict[str, Any]  # APScheduler CronTrigger/IntervalTrigger kwargs with "type"


_scheduled: list[ScheduledJob] = []
# Long-running loops started and stopped with the runner (e.g. webhook delivery):
# name -> fn(settings, stop) coroutine that returns once ``stop`` is set.
_services: dict[str, Callable[[Settings, asyncio.Event], Awaitable[None]]] = {}


def background_service(
    name: str,
) -> Callable[[Callable[[Settings, asyncio.Event], Awaitable[None]]], Any]:
    """Register a loop run beside the task pump: ``@background_service("webhooks.deliver")``."""

    def register(
        fn: Callable[[Settings, asyncio.Event], Awaitable[None]],
    ) -> Callable[[Settings, asyncio.Event], Awaitable[None]]:
        _services[name] = fn
        return fn

    return register


def scheduled(name: str, **trigger: Any) -> Callable[[Callable[[], Awaitable[Any]]], Any]:
    """Register a periodic job: ``@scheduled("finetune.nightly", type="cron", hour=2)``."""

    def register(fn: Callable[[], Awaitable[Any]]) -> Callable[[], Awaitable[Any]]:
        _scheduled[:] = [j for j in _scheduled if j.name != name]
        _scheduled.append(ScheduledJob(name, fn, trigger))
        return fn

    return register


@asynccontextmanager
async def once_across_replicas(name: str):
    """Yields True to the one process holding the advisory lock for ``name``."""
    engine = get_engine()
    if engine.dialect.name != "postgresql":
        yield True
        return
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    async with engine.connect() as conn:
        got = (await conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": key})).scalar()
        try:
            yield bool(got)
        finally:
            if got:
                await conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": key})
                await conn.commit()


class BackgroundRunner:
    def __init__(self, settings: Settings) -> None:
        from nova.core.events import set_notify

        set_notify(settings.pump_notify_enabled)
        self.settings = settings
        self.pump = TaskPump(
            concurrency=settings.pump_concurrency,
            batch_size=settings.pump_batch_size,
            lease_seconds=settings.task_lease_seconds,
            interval=settings.pump_interval_seconds,
            debounce=settings.pump_wake_debounce_seconds,
        )
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._scheduler: Any = None
        self._service_tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        from apscheduler.schedulers.asyncio import AsyncIOScheduler

        self._task = asyncio.create_task(self.pump.run_forever(self._stop), name="nova-pump")
        for name, fn in _services.items():
            self._service_tasks.append(
                asyncio.create_task(fn(self.settings, self._stop), name=f"nova-{name}")
            )
        self._scheduler = AsyncIOScheduler(timezone="UTC")
        for job in _scheduled:
            trigger = dict(job.trigger)
            kind = trigger.pop("type", "cron")
            self._scheduler.add_job(job.fn, kind, id=job.name, replace_existing=True, **trigger)
        self._scheduler.start()
        log.info("background runner started (%d scheduled jobs)", len(_scheduled))

    async def stop(self) -> None:
        self._stop.set()
        if self._scheduler is not None:
            self._scheduler.shutdown(wait=False)
        if self._task is not None:
            try:
                await asyncio.wait_for(self._task, 15)
            except TimeoutError:
                self._task.cancel()
        for task in self._service_tasks:
            try:
                await asyncio.wait_for(task, 15)
            except TimeoutError:
                task.cancel()
            except Exception:
                log.exception("background service %s failed", task.get_name())
