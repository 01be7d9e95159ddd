"""Retention: finished work is deleted once it is old enough, in short batches.

* outbox — tasks that are ``done`` or ``dead`` and finished more than
  ``outbox_retention_days`` ago, then events that old with no task left;
* webhook deliveries — ``succeeded`` or ``failed`` ones created more than
  ``webhook_delivery_retention_days`` ago (``nova.webhooks.plugin``).

Pending and running work is never touched, whatever its age. 0 days keeps rows forever.
The job runs every 10 minutes in the background runner, on one replica at a time. Each
batch (``default_batch()`` rows) is its own short transaction, so SQLite's single writer
is never held long, and a run stops after ``MAX_SECONDS`` (the next one carries on).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, delete, exists, select

from nova.core import clock
from nova.core.db import get_engine, session_scope
from nova.core.runner import once_across_replicas, scheduled
from nova.core.settings import Settings, get_settings
from nova.models.events import Event, Task

# Rows per delete. SQLite: about 40 ms a batch (bench/retention_bench.py), the longest
# that other writers queued behind its single connection wait. PostgreSQL blocks no other
# writer, and fewer, larger batches skip fewer dead index entries.
BATCH_SQLITE = 1000
BATCH_POSTGRES = 5000
MAX_SECONDS = 120.0
INTERVAL_MINUTES = 10


def default_batch() -> int:
    return BATCH_POSTGRES if get_engine().dialect.name == "postgresql" else BATCH_SQLITE


async def delete_in_batches(
    table: Table, where: Any, *, batch: int | None = None, max_seconds: float = MAX_SECONDS
) -> int:
    """Delete the rows of ``table`` matching ``where``, ``batch`` per transaction, until none
    is left or ``max_seconds`` have passed. Returns how many were deleted."""
    batch = batch or default_batch()
    pick = select(table.c.id).where(where).limit(batch).scalar_subquery()
    stmt = delete(table).where(table.c.id.in_(pick))
    deadline = clock.monotonic() + max_seconds
    total = 0
    while True:
        async with session_scope() as session:
            deleted = (await session.execute(stmt)).rowcount
        total += deleted
        if deleted < batch or clock.monotonic() >= deadline:
            return total


def cutoff(days: float) -> datetime | None:
    """The moment before which rows kept ``days`` days are due; None when kept forever."""
    if days <= 0:
        return None
    return clock.now() - timedelta(days=days)


async def prune_outbox(settings: Settings, *, batch: int | None = None) -> dict[str, int]:
    """Delete finished tasks, then events with no task left, older than the retention."""
    before = cutoff(settings.outbox_retention_days)
    if before is None:
        return {"tasks": 0, "events": 0}
    tasks: Table = Task.__table__  # type: ignore[attr-defined]
    events: Table = Event.__table__  # type: ignore[attr-defined]
    # run_at <= finished_at for every finished task, so the (status, run_at) index applies.
    n_tasks = await delete_in_batches(
        tasks,
        and_(
            tasks.c.status.in_(("done", "dead")),
            tasks.c.run_at < before,
            tasks.c.finished_at < before,
        ),
        batch=batch,
    )
    n_events = await delete_in_batches(
        events,
        and_(events.c.created_at < before, ~exists().where(tasks.c.event_id == events.c.id)),
        batch=batch,
    )
    return {"tasks": n_tasks, "events": n_events}


@scheduled("core.retention", type="interval", minutes=INTERVAL_MINUTES)
async def prune() -> dict[str, int]:
    async with once_across_replicas("core.retention") as leader:
        if not leader:
            return {}
        return await prune_outbox(get_settings())
