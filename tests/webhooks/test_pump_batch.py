"""The pump's batch mode (added for the webhook fan-out): many events per transaction, and
a failing batch falls back to one event at a time."""

from __future__ import annotations

from sqlalchemy import select

from nova.core.db import session_scope
from nova.core.events import emit, subscribe
from nova.models.events import Task

calls: list[list[str]] = []


@subscribe("test.batched", name="test.batched", batch=50, max_attempts=2, retry_delays=(5,))
async def _batched(session, events):
    ns = [e.data["n"] for e in events]
    calls.append(ns)
    if "poison" in ns:
        raise ValueError("bad event")


async def _statuses() -> dict[str, int]:
    async with session_scope() as s:
        rows = (await s.execute(select(Task).where(Task.handler == "test.batched"))).scalars()
        out: dict[str, int] = {}
        for t in rows:
            out[t.status] = out.get(t.status, 0) + 1
        return out


async def test_batch_handler_gets_many_events_in_one_call(pump):
    calls.clear()
    async with session_scope() as s:
        for i in range(40):
            await emit(s, "test.batched", {"n": str(i)})
    assert await pump.drain() == 40
    assert len(calls) == 2  # the test pump claims 32 per round: 32 + 8
    assert sorted(int(n) for c in calls for n in c) == list(range(40))
    assert await _statuses() == {"done": 40}


async def test_a_poison_event_does_not_hold_the_batch_back(pump, clock):
    calls.clear()
    async with session_scope() as s:
        for n in ("a", "poison", "b"):
            await emit(s, "test.batched", {"n": n})
    await pump.drain()
    assert sorted(calls[0]) == ["a", "b", "poison"]
    assert sorted(calls[1:]) == [["a"], ["b"], ["poison"]]
    assert await _statuses() == {"done": 2, "pending": 1}
    clock.advance(5)
    await pump.drain()
    assert await _statuses() == {"done": 2, "dead": 1}
