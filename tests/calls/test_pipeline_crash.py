"""Crash safety of the dial pipeline: a process placing a three-lead batch (one of whose
LiveKit dispatches fails) is SIGKILLed at each step boundary, then the batch is recovered,
either by the pump's recovery task or by the client retrying its request. Whatever the
moment of death: no call is dialed without a durable record and its minutes held, no lead
is dialed twice, none is lost, each live call is announced once and holds its minutes once.

Runs on the suite's database: PostgreSQL in CI's second pass (a killed client's COMMIT may
still land after the kill, see ``_settle``), a SQLite file in the first."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from nova.calls.service import place_calls
from nova.core import clock as clock_mod
from nova.core.db import session_scope
from nova.models.base import new_id
from nova.models.billing import BillingAccount, MinuteReservation
from nova.models.calls import Call
from nova.models.events import Event, Task
from nova.models.user import User
from tests.calls.crash_child import batch_request
from tests.core.test_outbox_crash import _settle

ROOT = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("crash_child.py")


def _spawn(out: Path, step: str, user_id: str, batch_id: str, livekit) -> subprocess.Popen:
    env = dict(
        os.environ,
        PYTHONPATH=str(ROOT),
        NOVA_LOG_LEVEL="WARNING",
        LIVEKIT_URL=livekit.url,
        LIVEKIT_API_KEY=livekit.api_key,
        LIVEKIT_API_SECRET=livekit.api_secret,
    )
    return subprocess.Popen(
        [sys.executable, str(CHILD), str(out), step, user_id, batch_id],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


async def _kill_at(out: Path, child: subprocess.Popen, step: str) -> None:
    deadline = time.monotonic() + 60
    try:
        while not (out.exists() and f"at {step}" in out.read_text()):
            if child.poll() is not None:
                pytest.fail(child.stdout.read().decode()[-3000:])
            if time.monotonic() > deadline:
                pytest.fail(f"the child never reached {step}")
            await asyncio.sleep(0.02)  # the LiveKit fake answers the child meanwhile
        child.send_signal(signal.SIGKILL)
    finally:
        child.wait(10)
    assert child.returncode == -signal.SIGKILL


async def _state():
    async with session_scope() as s:
        calls = list((await s.execute(select(Call).order_by(Call.phone))).scalars())
        account = (await s.execute(select(BillingAccount))).scalar_one()
        holds = list((await s.execute(select(MinuteReservation))).scalars())
        started = list(
            (await s.execute(select(Event).where(Event.type == "call.started"))).scalars()
        )
        tasks = list(
            (await s.execute(select(Task).where(Task.handler == "calls.dispatch"))).scalars()
        )
    return calls, account, holds, started, tasks


def _check_invariants(livekit, calls, account, holds, started, unit: int = 60) -> None:
    """What must hold at any moment, crash or not."""
    per_room = Counter(d.room for d in livekit.dispatches.values())
    assert all(n == 1 for n in per_room.values()), per_room  # never two agents for one lead
    by_room = {c.room_name: c for c in calls}
    for room in per_room:  # never an agent without a durable record holding its minutes
        assert room in by_room, "an agent was dispatched for a call with no record"
        call = by_room[room]
        assert call.reserved_seconds == unit or call.status == "failed"
    live = [c for c in calls if c.status == "in_progress"]
    for c in live:
        assert livekit.dispatches[c.dispatch_id].room == c.room_name
    announced = Counter(e.data["call_id"] for e in started)
    assert announced == Counter(c.id for c in live)  # each live call announced exactly once
    unsettled = [h for h in holds if h.settled_at is None]
    holding = [c.id for c in calls if c.status in ("pending", "in_progress") and unit]
    assert sorted(h.call_id for h in unsettled) == sorted(holding)  # anonymous: none
    assert account.seconds_reserved == unit * len(unsettled)


STEPS = ["gated", "recorded", "dispatched", "finished"]


@pytest.mark.parametrize(
    ("caller", "recovery"),
    [
        ("account", "pump"),
        ("account", "retry"),
        # An anonymous batch without Idempotency-Key: on PostgreSQL the one-statement writes.
        ("anonymous", "pump"),
    ],
)
@pytest.mark.parametrize("step", STEPS)
async def test_sigkill_at_each_step_boundary(
    step, caller, recovery, database_url, tmp_path, livekit, user, settings, pump
):
    metered = caller == "account"
    user_id = user["user"]["id"] if metered else "anonymous"
    batch_id = new_id() if metered else "-"
    unit = 60 if metered else 0
    # LiveKit fails one of the batch's three dispatches (the second request it receives).
    livekit.hooks[("AgentDispatchService", "CreateDispatch")] = _fail_second()
    out = tmp_path / "steps.log"
    child = _spawn(out, step, user_id, batch_id, livekit)
    await _kill_at(out, child, step)
    await _settle(database_url)

    calls, account, holds, started, tasks = await _state()
    _check_invariants(livekit, calls, account, holds, started, unit)
    dispatch_attempts = len(livekit.calls("AgentDispatchService", "CreateDispatch"))
    if step == "gated":  # nothing written, nothing dialed
        assert calls == [] and dispatch_attempts == 0 and account.seconds_reserved == 0
    elif step == "recorded":  # written and held, not dialed yet
        assert [c.status for c in calls] == ["pending"] * 3 and dispatch_attempts == 0
        assert account.seconds_reserved == 3 * unit
    elif step == "dispatched":  # two agents out, one failure, nothing recorded about it
        assert [c.status for c in calls] == ["pending"] * 3
        assert dispatch_attempts == 3 and len(livekit.dispatches) == 2
        assert account.seconds_reserved == 3 * unit
    else:  # the outcome is recorded: two live calls, one failed with its hold released
        assert sorted(c.status for c in calls) == ["failed", "in_progress", "in_progress"]
        assert account.seconds_reserved == 2 * unit
        assert {t.status for t in tasks} == {"done"}

    if recovery == "pump":
        # The recovery task comes due dispatch_recovery_seconds after the record.
        later = datetime.now(UTC) + timedelta(seconds=settings.dispatch_recovery_seconds + 1)
        old = clock_mod.set_clock(clock_mod.FrozenClock(later))
        try:
            await pump.drain()
        finally:
            clock_mod.set_clock(old)
    else:
        # The client retries the same request (same idempotency key → same batch id).
        async with session_scope() as s:
            owner = await s.get(User, user_id)
            resp = await place_calls(s, settings, batch_request(), owner, batch_id=batch_id)
        assert resp.total == 3

    calls, account, holds, started, tasks = await _state()
    _check_invariants(livekit, calls, account, holds, started, unit)
    statuses = sorted(c.status for c in calls)
    if step == "gated":
        # Nothing was recorded: the pump has nothing to do; a retried request places it now.
        expected = [] if recovery == "pump" else ["failed", "in_progress", "in_progress"]
        assert statuses == expected
    elif step == "dispatched":
        # The two agents already out are adopted, not sent again; the failed lead is
        # dispatched now (LiveKit is back).
        assert statuses == ["in_progress"] * 3
        assert len(livekit.calls("AgentDispatchService", "CreateDispatch")) == 4
    else:
        assert statuses == ["failed", "in_progress", "in_progress"]
    failed = [c for c in calls if c.status == "failed"]
    assert all("node down" in (c.error or "") for c in failed)
    assert not [c for c in calls if c.status == "pending"]  # none lost


def _fail_second():
    """A CreateDispatch hook: the second request of the run fails like a LiveKit outage."""
    from aiohttp import web

    seen = {"n": 0}

    def hook(req):
        seen["n"] += 1
        if seen["n"] == 2:
            return web.Response(
                status=503,
                body=b'{"code":"unavailable","msg":"node down"}',
                content_type="application/json",
            )
        return None

    return hook
