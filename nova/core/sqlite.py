"""SQLite under asyncio with one trip to the connection's thread per statement.

SQLAlchemy's ``sqlite+aiosqlite`` dialect drives aiosqlite, which runs every DBAPI step on
the connection's own thread: creating the cursor, executing, fetching and closing are one
round trip each (a queue put, a thread wake-up, a callback on the event loop). That is
four trips for a SELECT and three for an INSERT, and since Nova keeps one SQLite connection
per process (``db.make_engine``), the connection waits between them for the event loop to
get round to the next step. This connection runs a whole statement in one trip: execute,
fetch every row (SQLAlchemy fetches them all anyway), read ``description``, ``rowcount``
and ``lastrowid``, close. At 300 webhook events/s that is about half the trips.

It is aiosqlite's own ``Connection`` (same thread, queue, ``commit``, ``rollback`` and
``close``) with a different ``cursor()``, plugged in through the dialect's documented
``async_creator_fn`` connect argument, so every other connect argument still applies.
"""

from __future__ import annotations

import sqlite3
from collections import deque
from collections.abc import AsyncIterator, Sequence
from typing import Any

import aiosqlite


def connect(database: str, *, iter_chunk_size: int = 64, **kwargs: Any) -> Connection:
    """``aiosqlite.connect`` returning a :class:`Connection` (await it to open)."""

    def connector() -> sqlite3.Connection:
        return sqlite3.connect(database, **kwargs)

    connection = Connection(connector, iter_chunk_size)
    # As SQLAlchemy does for aiosqlite: a forgotten connection must not keep the process up.
    connection._thread.daemon = True
    return connection


class Connection(aiosqlite.Connection):
    # A BEGIN to send in front of the next statement (see ``begin_with_next_statement``).
    _begin: str | None = None
    # Trips queued, and the last one the thread finished (trips run in order).
    _queued = 0
    _finished = 0

    async def _execute(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        self._queued += 1
        seq = self._queued

        def trip() -> Any:
            try:
                return fn(*args, **kwargs)
            finally:
                self._finished = seq

        return await super()._execute(trip)

    def cursor(self) -> Cursor:  # type: ignore[override]
        return Cursor(self)

    def begin_with_next_statement(self, sql: str = "BEGIN IMMEDIATE") -> None:
        """Open the transaction with ``sql`` just before the next statement, in the same
        trip to the thread. If it fails (say the database stays locked past the busy
        timeout), that statement fails with its error. A transaction that runs no statement
        never opens, and its commit or rollback costs no trip."""
        self._begin = sql

    def _take_begin(self) -> str | None:
        begin, self._begin = self._begin, None
        return begin

    def _idle(self) -> bool:
        """No transaction is open and none can be about to open, so COMMIT or ROLLBACK would
        have nothing to do. Only decided while no trip is queued or running (a statement
        whose caller was cancelled still runs on the thread, and may open a transaction
        there); ``in_transaction`` is then a plain read of SQLite's autocommit flag."""
        if self._finished != self._queued:
            return False
        conn = self._connection
        try:
            return conn is not None and not conn.in_transaction
        except sqlite3.Error:
            return False

    async def commit(self) -> None:
        self._begin = None
        if not self._idle():
            await super().commit()

    async def rollback(self) -> None:
        # The pool rolls back every connection it takes back: usually nothing is open.
        self._begin = None
        if not self._idle():
            await super().rollback()


def _run(
    conn: sqlite3.Connection, sql: str, parameters: Any, many: bool, begin: str | None
) -> tuple[Any, int, int | None, list[Any]]:
    """On the connection's thread: the whole statement, rows included."""
    if begin is not None:
        conn.execute(begin).close()
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class Cursor:
    """The part of aiosqlite's cursor that SQLAlchemy uses; rows arrive with ``execute``."""

    __slots__ = ("_connection", "_rows", "arraysize", "description", "lastrowid", "rowcount")

    def __init__(self, connection: Connection) -> None:
        self._connection = connection
        self._rows: deque[Any] = deque()
        self.arraysize = 1
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None

    async def __aenter__(self) -> Cursor:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _statement(self, sql: str, parameters: Any, many: bool) -> Cursor:
        conn = self._connection
        description, rowcount, lastrowid, rows = await conn._execute(
            _run, conn._conn, sql, parameters, many, conn._take_begin()
        )
        self.description, self.rowcount, self.lastrowid = description, rowcount, lastrowid
        self._rows = deque(rows)
        return self

    async def execute(self, sql: str, parameters: Any = ()) -> Cursor:
        return await self._statement(sql, parameters, False)

    async def executemany(self, sql: str, parameters: Sequence[Any]) -> Cursor:
        return await self._statement(sql, parameters, True)

    async def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        n = min(len(self._rows), size or self.arraysize)
        return [self._rows.popleft() for _ in range(n)]

    async def fetchall(self) -> list[Any]:
        rows = list(self._rows)
        self._rows.clear()
        return rows

    async def close(self) -> None:
        self._rows.clear()

    async def __aiter__(self) -> AsyncIterator[Any]:
        while self._rows:
            yield self._rows.popleft()
