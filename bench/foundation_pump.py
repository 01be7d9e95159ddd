"""Event-spine throughput: emit N events (one subscriber each) and drain them with a pump.

    python bench/foundation_pump.py [N] [DATABASE_URL]

Default: 2000 events on a fresh temporary SQLite file. With a PostgreSQL URL the schema is
migrated there (use an empty, throw-away database). Prints emit and drain rates.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
N = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
tmp = Path(tempfile.mkdtemp(prefix="nova-bench-"))
URL = sys.argv[2] if len(sys.argv) > 2 else f"sqlite+aiosqlite:///{tmp / 'bench.db'}"
os.environ["NOVA_DATABASE_URL"] = URL

from nova.core.db import dispose_engine, init_engine, session_scope  # noqa: E402
from nova.core.events import emit, subscribe  # noqa: E402
from nova.core.migrate import upgrade  # noqa: E402
from nova.core.pump import TaskPump  # noqa: E402
from nova.core.settings import get_settings  # noqa: E402

handled = 0


@subscribe("bench.item", name="bench.count")
async def _count(session, event) -> None:
    global handled
    handled += 1


async def main() -> None:
    init_engine(get_settings())
    t0 = time.perf_counter()
    for start in range(0, N, 100):  # 100 events per transaction, like a busy API
        async with session_scope() as s:
            for i in range(start, min(N, start + 100)):
                await emit(s, "bench.item", {"n": i})
    t1 = time.perf_counter()
    pump = TaskPump(concurrency=32, batch_size=64, lease_seconds=60, handlers={"bench.count"})
    await pump.drain(max_rounds=10_000)
    t2 = time.perf_counter()
    assert handled == N, handled
    db = URL.split(":", 1)[0]
    print(f"{db}: emit {N / (t1 - t0):,.0f} events/s, drain {N / (t2 - t1):,.0f} tasks/s (N={N})")
    await dispose_engine()


upgrade(URL)
asyncio.run(main())
