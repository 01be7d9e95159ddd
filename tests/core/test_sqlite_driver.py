"""nova.core.sqlite: aiosqlite's connection with one thread trip per statement, under the
engine Nova builds for SQLite (one connection, every transaction BEGIN IMMEDIATE)."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from nova.core import sqlite
from nova.core.db import make_engine
from nova.core.settings import Settings


@pytest.fixture
async def engine(tmp_path: Path):
    eng = make_engine(Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'd.db'}"))
    async with eng.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT UNIQUE)"))
    yield eng
    await eng.dispose()


@pytest.fixture
def trips(monkeypatch):
    """Counts trips to connection threads (every aiosqlite queue item)."""
    count = [0]
    original = sqlite.Connection._execute

    async def counted(self, fn, *args, **kwargs):
        count[0] += 1
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(sqlite.Connection, "_execute", counted)
    return count


async def test_the_engine_uses_this_connection(engine):
    async with engine.connect() as conn:
        raw = await conn.get_raw_connection()
        assert isinstance(raw.driver_connection, sqlite.Connection)


async def test_one_trip_per_statement_and_begin_rides_with_the_first(engine, trips):
    async with engine.begin() as conn:
        await conn.execute(text("INSERT INTO t (v) VALUES ('a')"))
        await conn.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": "b"}, {"v": "c"}])
        rows = (await conn.execute(text("SELECT v FROM t ORDER BY v"))).all()
    # BEGIN + insert, executemany, select, COMMIT: 4 trips; the pool's rollback when it
    # takes the connection back finds nothing open and costs none (aiosqlite alone: 15).
    assert trips[0] == 4
    assert [r.v for r in rows] == ["a", "b", "c"]


async def test_rows_rowcount_lastrowid_and_returning(engine):
    async with engine.begin() as conn:
        first = await conn.execute(text("INSERT INTO t (v) VALUES ('x')"))
        assert first.lastrowid == 1 and first.rowcount == 1
        back = await conn.execute(text("INSERT INTO t (v) VALUES ('y') RETURNING id, v"))
        assert back.all() == [(2, "y")]
        changed = await conn.execute(text("UPDATE t SET v = v || '!'"))
        assert changed.rowcount == 2
        result = await conn.execute(text("SELECT id, v FROM t ORDER BY id"))
        assert result.fetchone() == (1, "x!")
        assert result.fetchall() == [(2, "y!")]
        assert result.fetchone() is None
        assert (await conn.execute(text("SELECT v FROM t WHERE id = 99"))).first() is None


async def test_a_transaction_that_runs_nothing_never_opens(engine, trips):
    async with engine.begin():
        pass
    async with engine.connect() as conn:
        tx = await conn.begin()
        await tx.rollback()
    assert trips[0] == 0


async def test_the_transaction_holds_the_write_lock_from_its_first_statement(engine, tmp_path):
    other = sqlite3.connect(tmp_path / "d.db", timeout=0, isolation_level=None)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("SELECT 1"))  # a read, but the transaction is IMMEDIATE
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("INSERT INTO t (v) VALUES ('other')")
        other.execute("INSERT INTO t (v) VALUES ('other')")  # released at commit
    finally:
        other.close()


async def test_a_failed_begin_fails_the_statement_and_the_connection_recovers(engine, tmp_path):
    async with engine.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        await driver.execute("PRAGMA busy_timeout = 50")  # outside any transaction
        other = sqlite3.connect(tmp_path / "d.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        with pytest.raises(OperationalError, match="locked"):
            async with conn.begin():
                await conn.execute(text("INSERT INTO t (v) VALUES ('blocked')"))
        other.execute("ROLLBACK")
        other.close()
        async with conn.begin():
            await conn.execute(text("INSERT INTO t (v) VALUES ('after')"))
        assert (await conn.execute(text("SELECT v FROM t"))).scalars().all() == ["after"]


async def test_an_error_rolls_back_the_whole_transaction(engine):
    with pytest.raises(IntegrityError):
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t (v) VALUES ('dup')"))
            await conn.execute(text("INSERT INTO t (v) VALUES ('dup')"))
    async with engine.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 0
        await conn.commit()
        # And the connection works on.
        async with conn.begin():
            await conn.execute(text("INSERT INTO t (v) VALUES ('dup')"))
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar() == 1


@pytest.mark.parametrize("url", ["sqlite+aiosqlite://", "sqlite+aiosqlite:///:memory:"])
async def test_in_memory_databases_work_too(url):
    eng = make_engine(Settings(database_url=url))
    try:
        async with eng.begin() as conn:
            await conn.execute(text("CREATE TABLE m (v TEXT)"))
            await conn.execute(text("INSERT INTO m VALUES ('kept')"))
        async with eng.connect() as conn:
            assert (await conn.execute(text("SELECT v FROM m"))).scalar() == "kept"
    finally:
        await eng.dispose()


async def test_a_rollback_waits_for_statements_still_on_the_thread(engine):
    """A statement whose caller gave up (cancelled) still runs on the thread and may open
    the transaction there. A rollback asked for meanwhile must queue behind it, not decide
    from an early look that nothing is open."""
    async with engine.connect() as conn:
        driver = (await conn.get_raw_connection()).driver_connection
        busy = asyncio.ensure_future(driver._execute(time.sleep, 0.2))  # the thread is busy
        driver.begin_with_next_statement()
        insert = asyncio.ensure_future(driver.cursor().execute("INSERT INTO t (v) VALUES ('x')"))
        await asyncio.sleep(0)
        insert.cancel()
        await driver.rollback()
        await busy
        assert not driver._conn.in_transaction
        rows = await (await driver.cursor().execute("SELECT count(*) FROM t")).fetchall()
        assert rows == [(0,)]
