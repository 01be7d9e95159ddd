"""At-least-once delivery across a real crash: a pump process is SIGKILLed mid-batch, two
replicas restart on the same database (SQLite file or PostgreSQL), and every event is
handled, none lost, none handled by two replicas at the same time."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest
from sqlalchemy import select, text

from nova.core.db import session_scope
from nova.models.events import Task

ROOT = Path(__file__).resolve().parents[2]
CHILD = Path(__file__).with_name("crash_child.py")
N = 20


def _spawn(out: Path, *args: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT), NOVA_LOG_LEVEL="WARNING")
    return subprocess.Popen(
        [sys.executable, str(CHILD), str(out), *args],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def _lines(out: Path) -> list[list[str]]:
    if not out.exists():
        return []
    return [ln.split() for ln in out.read_text().splitlines() if ln.strip()]


async def _settle(database_url: str) -> None:
    """PostgreSQL still carries out what a killed client had already sent (a COMMIT waiting
    in the socket is committed) before it notices the client is gone. Read the outcome only
    once no other client backend is busy or inside a transaction."""
    if not database_url.startswith("postgresql"):
        return  # SQLite: a commit either reached the file before the kill or it did not
    for _ in range(400):
        async with session_scope() as s:
            busy = await s.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
                    " AND state IS DISTINCT FROM 'idle'"
                )
            )
        if not busy:
            return
        await asyncio.sleep(0.05)
    pytest.fail("the killed process's database sessions did not end")


async def _statuses() -> dict[str, str]:
    async with session_scope() as s:
        rows = (await s.execute(select(Task).where(Task.handler == "crashtest.record"))).scalars()
        return {t.event_id: t.status for t in rows}


async def test_sigkill_mid_batch_then_restart_loses_nothing(database_url, tmp_path):
    out = tmp_path / "handled.log"
    first = _spawn(out, "emit-and-pump", str(N))
    deadline = time.monotonic() + 60
    try:
        # Kill once the second batch has started: some tasks are done, some are running.
        while sum(1 for ln in _lines(out) if ln[0] == "start") < 6:
            if first.poll() is not None:
                pytest.fail(first.stdout.read().decode()[-3000:])
            if time.monotonic() > deadline:
                pytest.fail("the pump never got going")
            await asyncio.sleep(0.02)
        first.send_signal(signal.SIGKILL)
    finally:
        first.wait(10)
    assert first.returncode == -signal.SIGKILL

    await _settle(database_url)
    after_crash = await _statuses()
    assert len(after_crash) == N  # every event was accepted with its task before the crash
    counts = Counter(after_crash.values())
    assert counts["running"] >= 1, counts  # killed mid-batch: leases held by a dead process
    assert counts["done"] < N
    done_before = {eid for eid, st in after_crash.items() if st == "done"}
    phase1 = len(_lines(out))

    # Two replicas restart on the same database.
    replicas = [_spawn(out, "pump"), _spawn(out, "pump")]
    for p in replicas:
        try:
            p.wait(90)
        except subprocess.TimeoutExpired:
            p.kill()
            pytest.fail("a replica did not finish")
        assert p.returncode == 0, p.stdout.read().decode()[-3000:]

    final = await _statuses()
    assert set(final.values()) == {"done"}, Counter(final.values())

    lines = _lines(out)
    handled = {int(ln[1]) for ln in lines if ln[0] == "end"}
    assert handled == set(range(N))  # at least once, none lost

    # Phase 2: nothing that was committed done before the crash ran again, everything else
    # ran exactly once across the two replicas, never by both at the same time.
    async with session_scope() as s:
        from nova.models.events import Event

        by_event = {
            e.id: e.data["n"]
            for e in (
                await s.execute(select(Event).where(Event.type == "crashtest.item"))
            ).scalars()
        }
    done_before_n = {by_event[eid] for eid in done_before}
    phase2_starts = Counter(int(ln[1]) for ln in lines[phase1:] if ln[0] == "start")
    assert not (set(phase2_starts) & done_before_n)
    assert set(phase2_starts) == set(range(N)) - done_before_n
    assert max(phase2_starts.values()) == 1, phase2_starts

    spans: dict[int, list[tuple[float, float]]] = defaultdict(list)
    open_: dict[tuple[int, str], float] = {}
    for kind, n, pid, t in (ln for ln in lines if ln[0] in ("start", "end")):
        if kind == "start":
            open_[(int(n), pid)] = float(t)
        else:
            spans[int(n)].append((open_.pop((int(n), pid)), float(t)))
    for n, intervals in spans.items():
        intervals.sort()
        for (_, end_a), (start_b, _) in zip(intervals, intervals[1:], strict=False):
            assert start_b >= end_a, f"event {n} ran twice at the same time"
    pids = {ln[2] for ln in lines[phase1:] if ln[0] == "start"}
    assert len(pids) >= 1
