"""Several pumps on one table (replicas): claims never overlap, every task runs once.

On PostgreSQL rows are picked with FOR UPDATE SKIP LOCKED, so a pump skips rows another
transaction holds instead of waiting; on SQLite the single writer serialises the claims.
The same checks run on whichever database the suite uses."""

from __future__ import annotations

import asyncio

from sqlalchemy import select

from nova.core.db import is_postgres, session_scope
from nova.core.events import emit, subscribe
from nova.core.pump import TaskPump
from nova.models.events import Task

active: set[int] = set()
overlaps: list[int] = []
handled: list[int] = []


@subscribe("claimtest.item", name="claimtest.record")
async def _record(session, event):
    n = event.data["n"]
    if n in active:
        overlaps.append(n)
    active.add(n)
    for _ in range(3):
        await asyncio.sleep(0)  # let the other pump interleave
    active.discard(n)
    handled.append(n)


def _pump() -> TaskPump:
    return TaskPump(concurrency=8, batch_size=8, lease_seconds=30, handlers={"claimtest.record"})


async def _emit(n: int, start: int = 0) -> None:
    async with session_scope() as s:
        for i in range(start, start + n):
            await emit(s, "claimtest.item", {"n": i})


async def test_two_pumps_claim_disjoint_sets_and_run_each_task_once():
    active.clear(), overlaps.clear(), handled.clear()
    await _emit(40)
    a, b = _pump(), _pump()
    ids_a, ids_b = await asyncio.gather(a.claim(10), b.claim(10))
    assert len(ids_a) == len(ids_b) == 10
    assert not set(ids_a) & set(ids_b)
    # A claimed task is not claimable again while its lease holds.
    rest = await a.claim(40)
    assert len(rest) == 20 and not set(rest) & (set(ids_a) | set(ids_b))
    assert await b.claim(40) == []
    await asyncio.gather(
        *(a.run_task(i) for i in ids_a + rest[:10]), *(b.run_task(i) for i in ids_b + rest[10:])
    )
    await _emit(40, start=40)  # more work, drained by both pumps side by side

    async def drain(p: TaskPump) -> int:
        total = 0
        while n := await p.run_once():
            total += n
        return total

    ran_a, ran_b = await asyncio.gather(drain(a), drain(b))
    assert ran_a + ran_b == 40
    assert sorted(handled) == list(range(80))  # every task exactly once
    assert overlaps == []
    async with session_scope() as s:
        statuses = set((await s.execute(select(Task.status))).scalars())
    assert statuses == {"done"}


async def test_claim_skips_rows_locked_by_another_transaction():
    """While one replica's transaction holds rows, another pump claims the rest at once
    (PostgreSQL: SKIP LOCKED). SQLite has one writer: the second claim waits its turn and
    then still never takes the rows the first one claimed."""
    await _emit(6)
    other = _pump()
    async with session_scope() as s:
        if is_postgres(s):
            held = list(
                (
                    await s.execute(
                        select(Task.id).order_by(Task.run_at).limit(3).with_for_update()
                    )
                ).scalars()
            )
            got = await asyncio.wait_for(other.claim(10), 5)  # does not block on held rows
            assert len(got) == 3 and not set(got) & set(held)
            return
    first = await _pump().claim(3)
    got = await asyncio.wait_for(other.claim(10), 5)
    assert len(got) == 3 and not set(got) & set(first)
