"""``insert_at_once``: rows of several tables in one PostgreSQL statement — together or not
at all, foreign keys between them honoured. Runs on the machine's PostgreSQL in every run
(a scratch database), since the single-statement paths exist only there."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import create_async_engine

from nova.core.db import insert_at_once
from tests.core.test_cli import PG_SERVER, _scratch_database

meta = MetaData()
parents = Table("parents", meta, Column("id", String, primary_key=True))
children = Table(
    "children",
    meta,
    Column("id", String, primary_key=True),
    Column("parent_id", String, ForeignKey("parents.id"), nullable=False),
    Column("kind", String, nullable=False, default="plain"),
    Column("n", Integer, nullable=False, default=lambda: 7),
)


@pytest.fixture
async def pg():
    name = f"nova_once_{uuid.uuid4().hex[:12]}"
    await _scratch_database(PG_SERVER, name, create=True)
    engine = create_async_engine(
        make_url(PG_SERVER).set(database=name), isolation_level="AUTOCOMMIT"
    )
    async with engine.begin() as conn:
        await conn.run_sync(meta.create_all)
    try:
        yield engine
    finally:
        await engine.dispose()
        await _scratch_database(PG_SERVER, name, create=False)


async def _counts(engine) -> tuple[int, int]:
    async with engine.connect() as conn:
        p = await conn.scalar(select(func.count()).select_from(parents))
        c = await conn.scalar(select(func.count()).select_from(children))
    return p, c


async def test_rows_of_several_tables_land_together_with_defaults(pg):
    async with pg.connect() as conn:
        await insert_at_once(
            conn,
            [
                (parents, [{"id": "p1"}, {"id": "p2"}]),
                (children, [{"id": "c1", "parent_id": "p1"}, {"id": "c2", "parent_id": "p2"}]),
                (parents, []),  # empty lists are skipped
            ],
        )
        rows = (await conn.execute(select(children).order_by(children.c.id))).all()
    assert [tuple(r) for r in rows] == [("c1", "p1", "plain", 7), ("c2", "p2", "plain", 7)]
    assert await _counts(pg) == (2, 2)


async def test_a_failing_row_writes_nothing(pg):
    async with pg.connect() as conn:
        with pytest.raises(IntegrityError):
            await insert_at_once(
                conn,
                [
                    (parents, [{"id": "p1"}]),
                    (children, [{"id": "c1", "parent_id": "missing"}]),  # FK violation
                ],
            )
    assert await _counts(pg) == (0, 0)
