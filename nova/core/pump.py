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
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, or_, select, update

from nova.core import clock
from nova.core.db import get_engine, is_postgres, session_scope
from nova.core.events import (
    NOTIFY_CHANNEL,
    GiveUp,
    Retry,
    get_handler,
    notify_enabled,
    on_wake,
)
from nova.models.events import Event, Task

log = logging.getLogger("nova.pump")


async def drain_rounds(run_once: Callable[[], Awaitable[int]], max_rounds: int = 100) -> int:
    """Call ``run_once`` until a round does nothing (or ``max_rounds``); the total done."""
    total = 0
    for _ in range(max_rounds):
        n = await run_once()
        total += n
        if n == 0:
            break
    return total


class TaskPump:
    def __init__(
        self,
        *,
        concurrency: int = 32,
        batch_size: int = 64,
        lease_seconds: float = 60.0,
        interval: float = 0.5,
        handlers: set[str] | None = None,
        debounce: float = 0.01,
    ) -> None:
        self.concurrency = concurrency
        self.batch_size = batch_size
        self.lease_seconds = lease_seconds
        self.interval = interval
        self.debounce = debounce
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
        return [task_id for task_id, _ in await self.claim_tasks(limit)]

    async def claim_tasks(self, limit: int) -> list[tuple[str, str]]:
        """Claim up to ``limit`` due tasks; returns (task id, handler name) pairs."""
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
                .returning(Task.id, Task.handler)
                .execution_options(synchronize_session=False)
            )
            return [(row[0], row[1]) for row in claimed.all()]

    @staticmethod
    def units(claimed: list[tuple[str, str]]) -> list[list[str]]:
        """Group claimed tasks into units of work: one task each, except handlers registered
        with ``batch > 1`` whose tasks are run together (up to ``batch`` per unit)."""
        out: list[list[str]] = []
        groups: dict[str, list[str]] = {}
        for task_id, handler in claimed:
            spec = get_handler(handler)
            if spec is not None and spec.batch > 1:
                group = groups.setdefault(handler, [])
                group.append(task_id)
                if len(group) >= spec.batch:
                    out.append(group)
                    groups[handler] = []
            else:
                out.append([task_id])
        out.extend(g for g in groups.values() if g)
        return out

    async def run_unit(self, task_ids: list[str]) -> None:
        if len(task_ids) == 1:
            await self.run_task(task_ids[0])
        else:
            await self.run_batch(task_ids)

    async def run_batch(self, task_ids: list[str]) -> None:
        """Run claimed tasks of one batch handler in one transaction. If that fails, each
        task runs on its own so one bad event cannot hold the others back."""
        try:
            async with session_scope() as session:
                tasks = list(
                    (
                        await session.execute(
                            select(Task).where(Task.id.in_(task_ids), Task.status == "running")
                        )
                    ).scalars()
                )
                if not tasks:
                    return
                spec = get_handler(tasks[0].handler)
                if spec is None:
                    raise Retry(f"no handler registered for {tasks[0].handler!r}", delay=60)
                event_ids = [t.event_id for t in tasks if t.event_id is not None]
                events = {}
                if event_ids:
                    found = await session.execute(select(Event).where(Event.id.in_(event_ids)))
                    events = {e.id: e for e in found.scalars()}
                items = [
                    events.get(t.event_id) if t.event_id is not None else dict(t.payload)
                    for t in tasks
                ]
                timeout = spec.timeout or self.lease_seconds * 0.9
                await asyncio.wait_for(spec.fn(session, items), timeout)
                await session.execute(
                    update(Task)
                    .where(Task.id.in_([t.id for t in tasks]))
                    .values(status="done", locked_until=None, finished_at=clock.now())
                    .execution_options(synchronize_session=False)
                )
            return
        except asyncio.CancelledError:
            raise
        except BaseException:  # noqa: BLE001 - retried task by task below
            log.warning("batch of %d tasks failed; running them one by one", len(task_ids))
        for task_id in task_ids:
            await self.run_task(task_id)

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
                    coro = spec.fn(session, [event] if spec.batch > 1 else event)
                else:
                    payload = dict(task.payload)
                    coro = spec.fn(session, [payload] if spec.batch > 1 else payload)
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
        claimed = await self.claim_tasks(self.batch_size)
        if claimed:
            await asyncio.gather(*(self.run_unit(u) for u in self.units(claimed)))
        return len(claimed)

    async def drain(self, max_rounds: int = 100) -> int:
        """Run batches until nothing is due (tests and CLI)."""
        return await drain_rounds(self.run_once, max_rounds)

    async def _run_bounded(self, task_ids: list[str]) -> None:
        try:
            await self.run_unit(task_ids)
        finally:
            self._sem.release()

    async def _listen(self, engine: Any = None) -> Any:
        """PostgreSQL: a connection LISTENing for tasks committed by other processes (see
        ``events.NOTIFY_CHANNEL``); None elsewhere or if it cannot be set up (the pump then
        relies on polling)."""
        engine = engine or get_engine()
        if engine.dialect.name != "postgresql" or not notify_enabled():
            return None
        try:
            conn = await engine.connect()
            raw = (await conn.get_raw_connection()).driver_connection
            await raw.add_listener(NOTIFY_CHANNEL, self._notified)
        except Exception:  # noqa: BLE001 - polling still works
            log.warning("could not LISTEN for new tasks; polling only", exc_info=True)
            return None
        return conn, raw

    def _notified(self, *_args: Any) -> None:
        self._wake.set()

    async def _unlisten(self, listening: Any) -> None:
        if listening is None:
            return
        conn, raw = listening
        try:
            await raw.remove_listener(NOTIFY_CHANNEL, self._notified)
        except Exception:  # noqa: BLE001 - the connection may be gone already
            await conn.invalidate()
        await conn.close()

    async def run_forever(self, stop: asyncio.Event) -> None:
        self._loop = asyncio.get_running_loop()
        unregister = on_wake(self.wake)
        listening = await self._listen()
        try:
            while not stop.is_set():
                free = self.concurrency - len(self._inflight)
                ids: list[tuple[str, str]] = []
                if free > 0:
                    try:
                        ids = await self.claim_tasks(min(free, self.batch_size))
                    except Exception:
                        log.exception("claiming tasks failed")
                for unit in self.units(ids):
                    await self._sem.acquire()
                    t = asyncio.create_task(self._run_bounded(unit))
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
                if self._wake.is_set() and self.debounce > 0 and not stop.is_set():
                    # Woken by a commit (ours or, through NOTIFY, another process's): give
                    # the commits right behind it a moment, so that under load one claim
                    # takes a batch instead of one claim per committed task.
                    await asyncio.sleep(self.debounce)
        finally:
            unregister()
            await self._unlisten(listening)
            if self._inflight:
                await asyncio.wait(self._inflight, timeout=10)
