"""Child process for tests/core/test_outbox_crash.py (run as a script, not collected).

    python tests/core/crash_child.py OUT emit-and-pump N   # emit N events, pump forever
    python tests/core/crash_child.py OUT pump              # pump until every task is done

The handler appends ``start <n> <pid> <t>`` / ``end <n> <pid> <t>`` lines to OUT around a
sleep, so the parent can SIGKILL it in the middle of a batch and check what ran.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time

from sqlalchemy import func, select

from nova.core.db import dispose_engine, init_engine, session_scope
from nova.core.events import emit, subscribe
from nova.core.pump import TaskPump
from nova.core.settings import get_settings
from nova.models.events import Task

HANDLER = "crashtest.record"
SLEEP = 0.3
LEASE = 2.0


def _line(out: str, text: str) -> None:
    with open(out, "a") as f:
        f.write(text + "\n")
        f.flush()
        os.fsync(f.fileno())


async def main(out: str, mode: str, n: int) -> None:
    @subscribe("crashtest.item", name=HANDLER, max_attempts=20, retry_delays=(0.1,))
    async def record(session, event) -> None:
        i = event.data["n"]
        _line(out, f"start {i} {os.getpid()} {time.monotonic():.6f}")
        await asyncio.sleep(SLEEP)
        _line(out, f"end {i} {os.getpid()} {time.monotonic():.6f}")

    init_engine(get_settings())
    if mode == "emit-and-pump":
        async with session_scope() as s:
            for i in range(n):
                await emit(s, "crashtest.item", {"n": i})
    pump = TaskPump(
        concurrency=4, batch_size=4, lease_seconds=LEASE, interval=0.05, handlers={HANDLER}
    )
    stop = asyncio.Event()
    runner = asyncio.create_task(pump.run_forever(stop))
    _line(out, f"ready {os.getpid()}")
    while True:  # in emit-and-pump mode the parent kills us long before this ends
        await asyncio.sleep(0.1)
        async with session_scope() as s:
            left = await s.scalar(
                select(func.count())
                .select_from(Task)
                .where(Task.handler == HANDLER, Task.status.in_(("pending", "running")))
            )
        if not left:
            break
    stop.set()
    await runner
    await dispose_engine()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 0))
