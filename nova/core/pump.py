"""The task pump: claims due tasks, runs their handlers, records the outcome.

Claiming is one ``UPDATE … RETURNING`` over rows picked with ``FOR UPDATE SKIP LOCKED`` on
PostgreSQL, so any number of replicas can pump the same table without running a task twice
at once. A claimed task holds a lease (``locked_until``); if the process dies, the lease
expires and another pump (or the same one after a restart) claims it again. Delivery is
therefore at-least-once, and handlers are idempotent.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from sqlalchemy import and_, or_, select, update

from nova.core import clock
from nova.core.db import is_postgres, session_scope
from nova.core.events import GiveUp, Retry, get_handler, on_wake
from nova.models.events import Event, Task

log = logging.getLogger("nova.pump")


class TaskPump:
    def __init__(
        self,
        *,
        concurrency: int = 32,
        batch_size: int = 64,
        lease_seconds: float = 60.0,
        interval: float = 0.5,
        handlers: set[str] | None = None,
    ) -> None:
        self.concurrency = concurrency
        self.batch_size = batch_size
        self.lease_seconds = lease_seconds
        self.interval = interval
        self.handlers = handlers
        self._sem = asyncio.Semaphore(concurrency)
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._inflight: set[asyncio.Task[None]] = set()

    def wake(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._wake.set)

    async def claim(self, limit: int) -> list[str]:
        now = clock.now()
        due = or_(
            and_(Task.status == "pending", Task.run_at <= now),
            and_(Task.status == "running", Task.locked_until < now),
        )
        async with session_scope() as session:
            pick = select(Task.id).where(due).order_by(Task.run_at).limit(limit)
            if self.handlers is not None:
                pick = pick.where(Task.handler.in_(self.handlers))
            if is_postgres(session):
                pick = pick.with_for_update(skip_locked=True)
            ids = list((await session.execute(pick)).scalars())
            if not ids:
                return []
            claimed = await session.execute(
                update(Task)
                .where(Task.id.in_(ids), due)
                .values(
                    status="running",
                    attempts=Task.attempts + 1,
                    locked_until=now + timedelta(seconds=self.lease_seconds),
                )
                .returning(Task.id)
                .execution_options(synchronize_session=False)
            )
            return list(claimed.scalars())

    async def run_task(self, task_id: str) -> None:
        """Run one claimed task and record done / retry / dead."""
        error: BaseException | None = None
        try:
            async with session_scope() as session:
                task = await session.get(Task, task_id)
                if task is None or task.status != "running":
                    return
                spec = get_handler(task.handler)
                if spec is None:
                    raise Retry(f"no handler registered for {task.handler!r}", delay=60)
                if task.event_id is not None:
                    event = await session.get(Event, task.event_id)
                    coro = spec.fn(session, event)
                else:
                    coro = spec.fn(session, dict(task.payload))
                timeout = spec.timeout or self.lease_seconds * 0.9
                await asyncio.wait_for(coro, timeout)
                await session.execute(
                    update(Task)
                    .where(Task.id == task_id)
                    .values(status="done", locked_until=None, finished_at=clock.now())
                    .execution_options(synchronize_session=False)
                )
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # noqa: BLE001 - every failure is recorded
            error = exc
        if error is not None:
            await self._record_failure(task_id, error)

    async def _record_failure(self, task_id: str, error: BaseException) -> None:
        async with session_scope() as session:
            task = await session.get(Task, task_id)
            if task is None:
                return
            spec = get_handler(task.handler)
            message = f"{type(error).__name__}: {error}"[:2000]
            dead = isinstance(error, GiveUp) or task.attempts >= task.max_attempts
            if dead:
                log.error("task %s (%s) gave up: %s", task.id, task.handler, message)
                task.status = "dead"
                task.finished_at = clock.now()
            else:
                delay = (
                    error.delay if isinstance(error, Retry) and error.delay is not None else None
                )
                if delay is None:
                    delay = spec.delay_after(task.attempts) if spec else 60.0
                log.warning(
                    "task %s (%s) attempt %d failed, retrying in %.1fs: %s",
                    task.id,
                    task.handler,
                    task.attempts,
                    delay,
                    message,
                )
                task.status = "pending"
                task.run_at = clock.now() + timedelta(seconds=delay)
            task.locked_until = None
            task.last_error = message

    async def run_once(self) -> int:
        """Claim and run one batch to completion. Returns how many tasks ran."""
        ids = await self.claim(self.batch_size)
        if ids:
            await asyncio.gather(*(self.run_task(i) for i in ids))
        return len(ids)

    async def drain(self, max_rounds: int = 100) -> int:
        """Run batches until nothing is due (tests and CLI)."""
        total = 0
        for _ in range(max_rounds):
            n = await self.run_once()
            total += n
            if n == 0:
                break
        return total

    async def _run_bounded(self, task_id: str) -> None:
        try:
            await self.run_task(task_id)
        finally:
            self._sem.release()

    async def run_forever(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        unregister = on_wake(self.wake)
        try:
            while not stop.is_set():
                free = self.concurrency - len(self._inflight)
                ids: list[str] = []
                if free > 0:
                    try:
                        ids = await self.claim(min(free, self.batch_size))
                    except Exception:
                        log.exception("claiming tasks failed")
                for task_id in ids:
                    await self._sem.acquire()
                    t = asyncio.create_task(self._run_bounded(task_id))
                    self._inflight.add(t)
                    t.add_done_callback(self._inflight.discard)
                if ids and len(ids) == min(free, self.batch_size):
                    continue  # more may be due right now
                self._wake.clear()
                waits = [
                    asyncio.ensure_future(self._wake.wait()),
                    asyncio.ensure_future(stop.wait()),
                ]
                await asyncio.wait(
                    waits, timeout=self.interval, return_when=asyncio.FIRST_COMPLETED
                )
                for w in waits:
                    w.cancel()
        finally:
            unregister()
            if self._inflight:
                await asyncio.wait(self._inflight, timeout=10)
