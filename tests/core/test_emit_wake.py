"""``emit`` wakes the task pump after the commit only when it queued work."""

from __future__ import annotations

from sqlalchemy import select

from nova.core.db import session_scope
from nova.core.events import emit, on_wake, subscribe
from nova.models.events import Event, Task


@subscribe("wake.subscribed", name="test.wake_subscribed")
async def _handler(session, event):
    return None


async def test_event_without_subscribers_does_not_wake_the_pump(pump):
    wakes: list[int] = []
    unregister = on_wake(lambda: wakes.append(1))
    try:
        async with session_scope() as s:
            event_id = await emit(s, "wake.nobody", {"n": 1})
        assert wakes == []
        async with session_scope() as s:
            await emit(s, "wake.subscribed", {"n": 2})
        assert wakes == [1]
    finally:
        unregister()
    async with session_scope() as s:
        stored = await s.get(Event, event_id)
        tasks = (await s.execute(select(Task).where(Task.handler == "test.wake_subscribed"))).all()
    assert stored is not None and stored.data == {"n": 1} and stored.type == "wake.nobody"
    assert len(tasks) == 1
    assert await pump.drain() == 1
