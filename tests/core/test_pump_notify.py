"""Cross-process wake-up on PostgreSQL: a transaction that queued tasks sends NOTIFY when it
commits, and a pump LISTENs, so pumps in other processes do not wait for their next poll.
Runs on the machine's PostgreSQL (a scratch database) in every run."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from nova.core import events
from nova.core.events import NOTIFY_CHANNEL, mark_wake
from nova.core.pump import TaskPump
from tests.core.test_cli import PG_SERVER, _scratch_database


@pytest.fixture
async def pg(monkeypatch):
    monkeypatch.setattr(events, "_notify", True)  # as with Settings.pump_notify_enabled
    name = f"nova_notify_{uuid.uuid4().hex[:12]}"
    await _scratch_database(PG_SERVER, name, create=True)
    engine = create_async_engine(make_url(PG_SERVER).set(database=name))
    try:
        yield engine
    finally:
        await engine.dispose()
        await _scratch_database(PG_SERVER, name, create=False)


async def _listener(engine):
    conn = await engine.connect()
    raw = (await conn.get_raw_connection()).driver_connection
    got = asyncio.Event()
    await raw.add_listener(NOTIFY_CHANNEL, lambda *_: got.set())
    return conn, got


async def test_a_commit_that_queued_tasks_notifies_and_others_do_not(pg):
    conn, got = await _listener(pg)
    try:
        async with AsyncSession(pg) as s:  # a transaction that queued nothing
            await s.connection()
            await s.commit()
        await asyncio.sleep(0.2)
        assert not got.is_set()

        async with AsyncSession(pg) as s:  # emit()/enqueue() mark the session like this
            await s.connection()
            mark_wake(s)
            await s.commit()
        await asyncio.wait_for(got.wait(), 5)

        got.clear()
        async with AsyncSession(pg) as s:  # rolled back: nothing was queued after all
            await s.connection()
            mark_wake(s)
            await s.rollback()
        await asyncio.sleep(0.2)
        assert not got.is_set()
    finally:
        await conn.close()


async def test_no_notify_unless_enabled(pg, monkeypatch):
    monkeypatch.setattr(events, "_notify", False)  # one process: nobody else to wake
    conn, got = await _listener(pg)
    try:
        async with AsyncSession(pg) as s:
            await s.connection()
            mark_wake(s)
            await s.commit()
        await asyncio.sleep(0.2)
        assert not got.is_set()
        assert await TaskPump()._listen(pg) is None
    finally:
        await conn.close()


async def test_pump_wakes_on_notify_from_another_connection(pg):
    pump = TaskPump(interval=60)
    listening = await pump._listen(pg)
    assert listening is not None
    try:
        assert not pump._wake.is_set()
        async with pg.connect() as other:  # as another process would, at its commit
            await other.exec_driver_sql(f"NOTIFY {NOTIFY_CHANNEL}")
            await other.commit()
        await asyncio.wait_for(pump._wake.wait(), 5)
    finally:
        await pump._unlisten(listening)
    # Unlistened: the connection went back to the pool without the listener.
    pump._wake.clear()
    async with pg.connect() as other:
        await other.exec_driver_sql(f"NOTIFY {NOTIFY_CHANNEL}")
        await other.commit()
    await asyncio.sleep(0.2)
    assert not pump._wake.is_set()
