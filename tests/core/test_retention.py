"""Retention of the outbox: finished tasks and then task-less events older than
``outbox_retention_days`` are deleted in batches; pending and running work never is."""

from __future__ import annotations

from sqlalchemy import select, update

from nova.core import retention
from nova.core.db import session_scope
from nova.core.events import emit, enqueue, subscribe, task_handler
from nova.core.runner import _scheduled
from nova.models.events import Event, Task


@subscribe("retention.thing", name="test.retention_sub")
async def _sub(session, event):
    return None


@task_handler("test.retention_job")
async def _job(session, payload):
    return None


async def _emit(n: int) -> str:
    async with session_scope() as s:
        return await emit(s, "retention.thing", {"n": n})


async def _finish(event_id: str, status: str, clock) -> None:
    async with session_scope() as s:
        await s.execute(
            update(Task)
            .where(Task.event_id == event_id)
            .values(status=status, finished_at=clock.now())
        )


async def _ids(model) -> set[str]:
    async with session_scope() as s:
        return set((await s.execute(select(model.id))).scalars())


async def test_only_finished_work_past_the_retention_is_deleted(clock, settings):
    settings.outbox_retention_days = 14
    done_old = await _emit(1)
    await _finish(done_old, "done", clock)
    dead_old = await _emit(2)
    await _finish(dead_old, "dead", clock)
    pending_old = await _emit(3)  # e.g. a handler still retrying: never deleted
    nobody = None
    async with session_scope() as s:
        nobody = await emit(s, "retention.unsubscribed", {})  # no task at all
        job_old = await enqueue(s, "test.retention_job", {})
    async with session_scope() as s:
        await s.execute(
            update(Task).where(Task.id == job_old).values(status="done", finished_at=clock.now())
        )

    clock.advance(days=14, seconds=1)
    done_new = await _emit(4)
    await _finish(done_new, "done", clock)

    before_tasks = await _ids(Task)
    assert await retention.prune_outbox(settings) == {"tasks": 3, "events": 3}

    assert await _ids(Event) == {pending_old, done_new}
    async with session_scope() as s:
        left = {(t.event_id, t.status) for t in (await s.execute(select(Task))).scalars()}
    assert left == {(pending_old, "pending"), (done_new, "done")}
    assert len(before_tasks) == 5
    assert nobody not in await _ids(Event)

    # Nothing more is due; a second run deletes nothing.
    assert await retention.prune_outbox(settings) == {"tasks": 0, "events": 0}


async def test_zero_days_keeps_everything(clock, settings):
    settings.outbox_retention_days = 0
    event_id = await _emit(1)
    await _finish(event_id, "done", clock)
    clock.advance(days=3650)
    assert await retention.prune_outbox(settings) == {"tasks": 0, "events": 0}
    assert await _ids(Event) == {event_id}


async def _done_and_two_days_old(n: int, clock, settings) -> None:
    """``n`` events whose tasks are done, then two days pass (retention: one day)."""
    settings.outbox_retention_days = 1
    for i in range(n):
        await _finish(await _emit(i), "done", clock)
    clock.advance(days=2)


async def test_deletes_in_batches_until_none_is_left(clock, settings):
    await _done_and_two_days_old(7, clock, settings)
    assert await retention.prune_outbox(settings, batch=3) == {"tasks": 7, "events": 7}
    assert await _ids(Event) == set()


async def test_a_run_stops_at_its_time_budget(clock, settings):
    await _done_and_two_days_old(5, clock, settings)
    # No time left: one batch, then the next run carries on.
    table = Task.__table__
    where = table.c.status == "done"
    assert await retention.delete_in_batches(table, where, batch=2, max_seconds=0) == 2
    assert await retention.delete_in_batches(table, where, batch=2) == 3


def test_the_job_is_scheduled():
    assert "core.retention" in {job.name for job in _scheduled}
