from __future__ import annotations

from sqlalchemy import select

from nova.core.db import session_scope
from nova.core.events import Retry, emit, subscribe
from nova.models.events import Task

seen: list[str] = []
flaky_calls: list[int] = []


@subscribe("test.ping", name="test.record")
async def _record(session, event):
    seen.append(event.data["n"])


@subscribe("test.flaky", name="test.flaky", max_attempts=3, retry_delays=(5,))
async def _flaky(session, event):
    flaky_calls.append(1)
    raise Retry("not yet")


async def test_emit_runs_subscribers_once(pump):
    seen.clear()
    async with session_scope() as s:
        await emit(s, "test.ping", {"n": "1"})
    assert await pump.drain() == 1
    assert seen == ["1"]
    assert await pump.drain() == 0
    assert seen == ["1"]


async def test_rolled_back_emit_queues_nothing(pump):
    seen.clear()
    try:
        async with session_scope() as s:
            await emit(s, "test.ping", {"n": "2"})
            raise RuntimeError("boom")
    except RuntimeError:
        pass
    assert await pump.drain() == 0
    assert seen == []


async def test_retry_backoff_then_dead(pump, clock):
    flaky_calls.clear()
    async with session_scope() as s:
        await emit(s, "test.flaky", {})
    await pump.drain()
    assert len(flaky_calls) == 1
    await pump.drain()
    assert len(flaky_calls) == 1  # not due yet
    clock.advance(5)
    await pump.drain()
    clock.advance(5)
    await pump.drain()
    assert len(flaky_calls) == 3
    async with session_scope() as s:
        task = (await s.execute(select(Task).where(Task.handler == "test.flaky"))).scalar_one()
    assert task.status == "dead"
    assert task.attempts == 3
    assert "not yet" in task.last_error
