"""``nova.core.idempotency.run`` as other creating POSTs use it (after the request's session
already did some work)."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from nova.core import idempotency
from nova.core.db import session_scope
from nova.core.errors import Conflict, PaymentRequired, Unprocessable
from nova.models.idempotency import IdempotencyRecord


async def test_run_with_a_session_that_already_read(settings):
    calls = []

    async def work():
        calls.append(1)
        return 201, {"id": "thing-1"}

    for _ in range(2):
        async with session_scope() as s:
            await s.execute(text("SELECT 1"))  # e.g. CurrentUser loaded the account
            r = await idempotency.run(
                s, settings, key="k1", scope="user:u1|POST /things", payload={"a": 1}, work=work
            )
    assert r.status_code == 201 and r.headers["idempotent-replayed"] == "true"
    assert calls == [1]
    with pytest.raises(Unprocessable):
        async with session_scope() as s:
            await s.execute(text("SELECT 1"))
            await idempotency.run(
                s, settings, key="k1", scope="user:u1|POST /things", payload={"a": 2}, work=work
            )


async def test_run_releases_the_key_when_work_fails(settings):
    async def fail():
        raise PaymentRequired("no minutes")

    with pytest.raises(PaymentRequired):
        async with session_scope() as s:
            await s.execute(text("SELECT 1"))
            await idempotency.run(
                s, settings, key="k2", scope="ip:1|POST /x", payload={}, work=fail
            )
    async with session_scope() as s:
        assert (await s.execute(select(IdempotencyRecord))).first() is None


async def test_in_flight_conflict_from_begin(settings):
    claim = await idempotency.begin(settings, scope="s", key="k3", payload={"x": 1})
    assert isinstance(claim, idempotency.Claim)
    with pytest.raises(Conflict):
        await idempotency.begin(settings, scope="s", key="k3", payload={"x": 1})
