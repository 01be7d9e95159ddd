"""Async SQLAlchemy engine and sessions.

Services never commit: the request's session dependency (``get_session``) commits when the
handler returns and rolls back when it raises; background work uses ``session_scope()``
which does the same around a block.
"""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import Table, bindparam, event, make_url, text
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session

from nova.core import sqlite
from nova.core.settings import Settings, get_settings

_engine: AsyncEngine | None = None
_sessionmaker: async_sessionmaker[AsyncSession] | None = None
_after_commit_hooks: list[Callable[[Session], None]] = []


def make_engine(settings: Settings) -> AsyncEngine:
    url = settings.database_url
    if url.startswith("sqlite"):
        pool: dict[str, Any] = {}
        database = make_url(url).database or ":memory:"  # "sqlite://" is in memory too
        if database != ":memory:" and "mode=memory" not in url:
            # One connection per process: every transaction is BEGIN IMMEDIATE (below), so
            # a second connection could only wait for the write lock anyway, and it would
            # wait in SQLite's busy handler, which polls with sleeps of up to 100 ms (the
            # p99 of POST /calls under load was ~1 s). Waiting in the pool's queue instead
            # hands the connection over the moment the previous transaction ends. The pool
            # timeout matches the busy timeout.
            pool = {"pool_size": 1, "max_overflow": 0, "pool_timeout": 30}
        # nova.core.sqlite: aiosqlite's connection with one trip to its thread per
        # statement instead of three or four.
        connect_args = {"timeout": 30, "async_creator_fn": sqlite.connect}
        engine = create_async_engine(url, connect_args=connect_args, **pool)

        # SQLite allows one writer. Starting every transaction with BEGIN IMMEDIATE makes
        # writers queue on the busy timeout instead of failing with "database is locked"
        # when a read transaction later tries to write (SQLAlchemy's documented recipe).
        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        @event.listens_for(engine.sync_engine, "begin")
        def _sqlite_begin(conn: Any) -> None:
            # Sent with the transaction's first statement, in the same thread trip.
            conn.connection.driver_connection.begin_with_next_statement("BEGIN IMMEDIATE")

        return engine
    # No pool_pre_ping: it is one more round trip on every checkout (a seventh for each
    # POST /calls). A connection the server has dropped fails one statement instead;
    # SQLAlchemy then recognises the disconnect and invalidates the pool, and pool_recycle
    # retires connections before typical idle timeouts.
    return create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_recycle=1800,
    )


def init_engine(settings: Settings | None = None) -> AsyncEngine:
    global _engine, _sessionmaker
    settings = settings or get_settings()
    _engine = make_engine(settings)
    _sessionmaker = async_sessionmaker(_engine, expire_on_commit=False, class_=AsyncSession)
    return _engine


def get_engine() -> AsyncEngine:
    if _engine is None:
        init_engine()
    assert _engine is not None
    return _engine


def sessionmaker() -> async_sessionmaker[AsyncSession]:
    if _sessionmaker is None:
        init_engine()
    assert _sessionmaker is not None
    return _sessionmaker


async def dispose_engine() -> None:
    global _engine, _sessionmaker
    if _engine is not None:
        await _engine.dispose()
    _engine = None
    _sessionmaker = None


@asynccontextmanager
async def session_scope() -> AsyncIterator[AsyncSession]:
    """A unit of work: commit on success, roll back on error."""
    async with sessionmaker()() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


async def get_session() -> AsyncIterator[AsyncSession]:
    """FastAPI dependency: one transaction per request."""
    async with session_scope() as session:
        yield session


async def ping_database() -> None:
    """One round trip to the database (health checks); raises when it is unreachable."""
    async with session_scope() as session:
        await session.execute(text("SELECT 1"))


def on_commit(hook: Callable[[Session], None]) -> None:
    """Run ``hook(session)`` after any session commits (used to wake the pump)."""
    _after_commit_hooks.append(hook)


@event.listens_for(Session, "after_commit")
def _run_after_commit_hooks(session: Session) -> None:
    for hook in _after_commit_hooks:
        hook(session)


_autocommit: AsyncEngine | None = None


def autocommit_engine() -> AsyncEngine:
    """The engine's pool with AUTOCOMMIT connections: for work that is one statement."""
    global _autocommit
    engine = get_engine()
    if _autocommit is None or _autocommit.sync_engine.pool is not engine.sync_engine.pool:
        _autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")
    return _autocommit


async def insert_at_once(conn: AsyncConnection, tables: list[tuple[Table, list[dict]]]) -> None:
    """PostgreSQL: insert every row of every table with ONE statement (each table's INSERT
    but the last is a data-modifying CTE), so the rows land together or not at all, in one
    round trip, on an autocommit connection. Rows of one table must share their keys.
    Foreign keys between them hold: PostgreSQL checks them at the end of the statement."""
    parts = [(table, rows) for table, rows in tables if rows]
    if not parts:
        return
    parts = [(table, with_defaults(table, rows)) for table, rows in parts]
    shape = tuple((table.name, len(rows), tuple(rows[0])) for table, rows in parts)
    stmt = _ONE_STATEMENT.get(shape)
    if stmt is None:
        # Built once per shape with named parameters, so SQLAlchemy's compiled cache hits
        # (a statement carrying its values is compiled anew every time).
        # One single-row INSERT per row: SQLAlchemy does not cache multi-row VALUES.
        inserts = [
            pg_insert(table).values(
                {c: bindparam(f"t{i}r{j}_{c}", type_=table.c[c].type) for c in rows[0]}
            )
            for i, (table, rows) in enumerate(parts)
            for j in range(len(rows))
        ]
        stmt = inserts[-1]
        for k, ins in enumerate(inserts[:-1]):
            stmt = stmt.add_cte(ins.cte(f"w{k}"))
        if len(_ONE_STATEMENT) > 256:
            _ONE_STATEMENT.clear()
        _ONE_STATEMENT[shape] = stmt
    params = {
        f"t{i}r{j}_{c}": v
        for i, (_table, rows) in enumerate(parts)
        for j, row in enumerate(rows)
        for c, v in row.items()
    }
    await conn.execute(stmt, params)


_ONE_STATEMENT: dict[tuple, Any] = {}


def with_defaults(table: Table, rows: list[dict]) -> list[dict]:
    """Rows with the table's Python-side column defaults filled in: a VALUES list, unlike
    an executemany, does not apply them to columns a row leaves out."""
    missing = _missing_defaults(table, tuple(rows[0]))
    if not missing:
        return rows
    out = []
    for row in rows:
        filled = dict(row)
        for c in missing:  # a callable default (e.g. a new id) is called for every row
            filled[c.name] = c.default.arg if c.default.is_scalar else c.default.arg(None)
        out.append(filled)
    return out


@functools.lru_cache(maxsize=64)
def _missing_defaults(table: Table, keys: tuple[str, ...]) -> tuple[Any, ...]:
    return tuple(
        c
        for c in table.c
        if c.name not in keys
        and c.default is not None
        and (c.default.is_scalar or c.default.is_callable)
    )


def is_postgres(session: AsyncSession) -> bool:
    return session.get_bind().dialect.name == "postgresql"
