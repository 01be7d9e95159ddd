"""Events are the spine: ``emit()`` records what happened in the caller's transaction and
queues one task per subscribed plug-in handler; ``enqueue()`` queues a job directly.

Handlers are plain async functions registered at import time::

    @subscribe("call.ended", name="billing.settle")
    async def settle(session: AsyncSession, event: Event) -> None: ...

    @task_handler("calls.dispatch", max_attempts=5)
    async def dispatch(session: AsyncSession, payload: dict) -> None: ...

A handler runs inside its own transaction together with the update that marks its task
done, so its database effects happen exactly once; effects outside the database (HTTP
calls) happen at least once and must be idempotent on the receiving side. Raise
``Retry(delay)`` to try again later, anything else to retry with the handler's backoff.
"""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event, insert, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session

from nova.core import clock
from nova.core.db import on_commit
from nova.models.base import new_id
from nova.models.events import Event, Task

HandlerFn = Callable[..., Awaitable[None]]

# Plug-in modules that register handlers. Each domain adds its module here.
PLUGIN_MODULES: list[str] = [
    "nova.core.retention",
    "nova.calls.plugin",
    "nova.quality.plugin",
    "nova.voice.plugin",
    "nova.twilio_byo.plugin",
    "nova.billing.plugin",
    "nova.portals.plugin",
    "nova.telephony.reports",
    "nova.records.plugin",
    "nova.webhooks.plugin",
    "nova.evals.plugin",
]

DEFAULT_RETRY_DELAYS: tuple[float, ...] = (1, 5, 30, 120, 600, 1800, 3600)


class Retry(Exception):  # noqa: N818 - it is a signal, not an error
    """Raise from a handler to try again after ``delay`` seconds (counts as an attempt)."""

    def __init__(self, reason: str = "retry requested", delay: float | None = None) -> None:
        super().__init__(reason)
        self.delay = delay


class GiveUp(Exception):  # noqa: N818
    """Raise from a handler to stop retrying: the task is marked dead with this reason."""


@dataclass
class HandlerSpec:
    name: str
    fn: HandlerFn
    max_attempts: int = 8
    retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS
    timeout: float | None = None
    is_subscriber: bool = False
    event_types: list[str] = field(default_factory=list)
    # > 1: the pump hands the handler up to this many claimed tasks at once, as a list of
    # events (subscribers) or payloads (task handlers), in one transaction.
    batch: int = 1
    # Subscribers only: queue a task only for events whose data passes this check.
    when: Callable[[dict[str, Any]], bool] | None = None

    def delay_after(self, attempts: int) -> float:
        """Wait before the next attempt, after ``attempts`` attempts have been made."""
        if not self.retry_delays:
            return 0.0
        return float(self.retry_delays[min(attempts - 1, len(self.retry_delays) - 1)])


_handlers: dict[str, HandlerSpec] = {}
_subscriptions: dict[str, list[str]] = {}
_plugins_loaded = False
_wake_callbacks: list[Callable[[], None]] = []


def subscribe(
    *event_types: str,
    name: str,
    max_attempts: int = 8,
    retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
    timeout: float | None = None,
    batch: int = 1,
    when: Callable[[dict[str, Any]], bool] | None = None,
) -> Callable[[HandlerFn], HandlerFn]:
    """Register ``fn(session, event)`` for the given event types. ``when(data)`` filters
    events at emit time, so events a subscriber would ignore cost no task. With ``batch > 1`` the
    handler is ``fn(session, events: list[Event])`` and gets up to ``batch`` events per
    transaction (when one batch fails, its events are retried one by one)."""

    def register(fn: HandlerFn) -> HandlerFn:
        spec = _handlers.get(name)
        if spec is not None and spec.fn is not fn and spec.fn.__qualname__ != fn.__qualname__:
            raise ValueError(f"handler name {name!r} is already taken")
        _handlers[name] = HandlerSpec(
            name,
            fn,
            max_attempts,
            tuple(retry_delays),
            timeout,
            True,
            list(event_types),
            batch,
            when,
        )
        for et in event_types:
            names = _subscriptions.setdefault(et, [])
            if name not in names:
                names.append(name)
        return fn

    return register


def task_handler(
    name: str,
    *,
    max_attempts: int = 8,
    retry_delays: Sequence[float] = DEFAULT_RETRY_DELAYS,
    timeout: float | None = None,
) -> Callable[[HandlerFn], HandlerFn]:
    """Register ``fn(session, payload)`` as the handler of directly queued jobs."""

    def register(fn: HandlerFn) -> HandlerFn:
        _handlers[name] = HandlerSpec(name, fn, max_attempts, tuple(retry_delays), timeout)
        return fn

    return register


def load_plugins() -> None:
    """Import every plug-in module so its handlers are registered (idempotent)."""
    global _plugins_loaded
    if _plugins_loaded:
        return
    for module in PLUGIN_MODULES:
        importlib.import_module(module)
    _plugins_loaded = True


def get_handler(name: str) -> HandlerSpec | None:
    load_plugins()
    return _handlers.get(name)


def subscribers(event_type: str) -> list[str]:
    load_plugins()
    return list(_subscriptions.get(event_type, ()))


def event_rows(type: str, data: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The outbox row of an event and the task rows of its subscribers (see ``emit``)."""
    now = clock.now()
    event = {"id": new_id(), "type": type, "data": data, "created_at": now}
    names = [n for n in subscribers(type) if _handlers[n].when is None or _handlers[n].when(data)]
    tasks = [_task_row(_handlers[n], {}, now, now, event_id=event["id"]) for n in names]
    return event, tasks


def _task_row(
    spec: HandlerSpec,
    payload: dict[str, Any],
    run_at: datetime,
    now: datetime,
    *,
    event_id: str | None = None,
    dedupe_key: str | None = None,
) -> dict[str, Any]:
    return {
        "id": new_id(),
        "handler": spec.name,
        "event_id": event_id,
        "payload": payload,
        "max_attempts": spec.max_attempts,
        "run_at": run_at,
        "dedupe_key": dedupe_key,
        "created_at": now,
    }


def task_row(
    handler: str,
    payload: dict[str, Any],
    *,
    run_at: datetime | None = None,
    dedupe_key: str | None = None,
) -> dict[str, Any]:
    """The row of a job for ``handler`` (the one writer of task rows: ``enqueue``, and the
    single-statement writes of hot paths, build their rows here)."""
    spec = get_handler(handler)
    if spec is None:
        raise LookupError(f"no task handler named {handler!r}")
    now = clock.now()
    return _task_row(spec, payload, run_at or now, now, dedupe_key=dedupe_key)


async def insert_events(
    session: AsyncSession, events: list[dict[str, Any]], tasks: list[dict[str, Any]]
) -> None:
    """Write rows from ``event_rows`` in the caller's transaction (Core INSERTs) and wake
    the pump at commit if they queued tasks."""
    if events:
        await session.execute(insert(Event.__table__), events)  # type: ignore[attr-defined]
    if tasks:
        await session.execute(insert(Task.__table__), tasks)  # type: ignore[attr-defined]
        # Only a commit that queued work wakes the pump: an event nobody subscribes to
        # (e.g. an anonymous call.started) must not cost a task poll per commit.
        mark_wake(session)
    await session.flush()


async def emit(session: AsyncSession, type: str, data: dict[str, Any]) -> str:
    """Record ``type`` with ``data`` and queue its subscribers, in the caller's transaction;
    returns the event's id.

    The rows are written at once with Core INSERTs (emit sits on hot paths such as
    POST /calls, where the ORM unit of work for the event cost more CPU than the rest of
    the request's SQL; building an ``Event`` object to return cost a tenth of a webhook
    event's emit). Anything the caller has pending in ``session`` is flushed too."""
    event, tasks = event_rows(type, data)
    await insert_events(session, [event], tasks)
    return event["id"]


async def enqueue(
    session: AsyncSession,
    handler: str,
    payload: dict[str, Any],
    *,
    run_at: datetime | None = None,
    delay: float = 0.0,
    dedupe_key: str | None = None,
) -> str | None:
    """Queue a job for ``handler``; returns its task id. With ``dedupe_key``, a second
    identical job is skipped (returns None)."""
    now = clock.now()
    values = task_row(
        handler, payload, run_at=run_at or (now + timedelta(seconds=delay)), dedupe_key=dedupe_key
    )
    if dedupe_key is None:
        # A Core INSERT, as in ``emit``: portal receivers enqueue on their hot path.
        await session.execute(insert(Task.__table__), [values])  # type: ignore[attr-defined]
        mark_wake(session)
        await session.flush()
        return values["id"]
    task = Task(**values)
    try:
        async with session.begin_nested():
            session.add(task)
    except IntegrityError:
        return None
    mark_wake(session)
    await session.flush()
    return task.id


def mark_wake(session: AsyncSession) -> None:
    """Wake the pump when ``session`` commits (it queued tasks)."""
    session.sync_session.info["nova_wake"] = True


def on_wake(callback: Callable[[], None]) -> Callable[[], None]:
    """Call ``callback`` after a commit that queued tasks. Returns an unregister function."""
    _wake_callbacks.append(callback)
    return lambda: _wake_callbacks.remove(callback) if callback in _wake_callbacks else None


def wake_pump() -> None:
    """Tell this process's pump that tasks were committed (for writes made outside an ORM
    session, e.g. a single autocommit statement)."""
    for cb in list(_wake_callbacks):
        cb()


# Pumps in other processes (replicas, `nova serve --workers N`) learn of new tasks through
# PostgreSQL's NOTIFY, delivered when the transaction commits; without it they would see
# them only at their next poll (``pump_interval_seconds``).
NOTIFY_CHANNEL = "nova_tasks"
_notify = False


def set_notify(enabled: bool) -> None:
    """Send NOTIFY on commits that queued tasks (``Settings.pump_notify_enabled``)."""
    global _notify
    _notify = enabled


def notify_enabled() -> bool:
    return _notify


@event.listens_for(Session, "before_commit")
def _notify_other_processes(session: Session) -> None:
    if (
        _notify
        and session.info.get("nova_wake")
        and session.get_bind().dialect.name == "postgresql"
    ):
        session.execute(text(f"NOTIFY {NOTIFY_CHANNEL}"))


def _after_commit(session: Session) -> None:
    if session.info.pop("nova_wake", False):
        wake_pump()


on_commit(_after_commit)
