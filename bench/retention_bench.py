"""Retention bench: how fast the retention job deletes finished outbox and delivery rows.

    python bench/retention_bench.py                      # SQLite file
    python bench/retention_bench.py --db postgresql+asyncpg://postgres@127.0.0.1:5432/nova_retention

Seeds ``--events`` events older than the retention, each with the two finished tasks a
`call.ended` queues (webhook fan-out and billing) and one succeeded webhook delivery, plus
the same again inside the retention (kept), then times ``prune_outbox`` and
``prune_deliveries`` (1000 rows per transaction on SQLite, 5000 on PostgreSQL) and checks what is left.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("NOVA_ENV", "development")

import machine  # noqa: E402
import pgdb  # noqa: E402
from sqlalchemy import func, insert, select  # noqa: E402

from nova.core.db import dispose_engine, init_engine, session_scope  # noqa: E402
from nova.core.migrate import upgrade  # noqa: E402
from nova.core.retention import prune_outbox  # noqa: E402
from nova.core.settings import Settings  # noqa: E402
from nova.models.events import Event, Task  # noqa: E402
from nova.models.user import User  # noqa: E402
from nova.models.webhooks import Webhook, WebhookDelivery  # noqa: E402
from nova.webhooks.service import prune_deliveries  # noqa: E402

CHUNK = 5000


async def seed(n: int, when: datetime, hook_id: str) -> None:
    for start in range(0, n, CHUNK):
        events, tasks, deliveries = [], [], []
        for _ in range(min(CHUNK, n - start)):
            eid = str(uuid.uuid4())
            data = {"call_id": eid, "customer_id": "c", "outcome": "qualified"}
            events.append({"id": eid, "type": "call.ended", "data": data, "created_at": when})
            for handler in ("webhooks.fanout", "billing.settle"):
                tasks.append(
                    {
                        "id": str(uuid.uuid4()),
                        "handler": handler,
                        "event_id": eid,
                        "payload": {},
                        "status": "done",
                        "attempts": 1,
                        "max_attempts": 8,
                        "run_at": when,
                        "created_at": when,
                        "finished_at": when,
                    }
                )
            deliveries.append(
                {
                    "id": str(uuid.uuid4()),
                    "webhook_id": hook_id,
                    "event_id": eid,
                    "event_type": "call.ended",
                    "payload": data,
                    "status": "succeeded",
                    "attempt_count": 1,
                    "status_code": 200,
                    "created_at": when,
                    "delivered_at": when,
                }
            )
        async with session_scope() as s:
            await s.execute(insert(Event.__table__), events)
            await s.execute(insert(Task.__table__), tasks)
            await s.execute(insert(WebhookDelivery.__table__), deliveries)


async def count(model) -> int:
    async with session_scope() as s:
        return await s.scalar(select(func.count()).select_from(model))


async def run(args: argparse.Namespace) -> dict:
    url = args.db or f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'retention.db'}"
    if url.startswith("postgresql"):
        await pgdb.fresh_schema(url)
    await asyncio.to_thread(upgrade, url)
    settings = Settings(database_url=url)
    init_engine(settings)
    async with session_scope() as s:
        user = User(email="retention@example.com", password_hash="x")
        s.add(user)
        await s.flush()
        hook = Webhook(user_id=user.id, url="https://x.example/h", events=[], signing_key="sealed")
        s.add(hook)
        await s.flush()
        hook_id = hook.id
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    await seed(args.events, now - timedelta(days=40), hook_id)
    await seed(args.events, now - timedelta(days=1), hook_id)
    seeded = time.perf_counter() - t0

    t0, c0 = time.perf_counter(), time.process_time()
    outbox = await prune_outbox(settings)
    t_outbox = time.perf_counter() - t0
    t1 = time.perf_counter()
    n_deliveries = await prune_deliveries(settings)
    t_deliveries = time.perf_counter() - t1
    cpu = time.process_time() - c0
    deleted = outbox["tasks"] + outbox["events"] + n_deliveries
    left = {m.__name__: await count(m) for m in (Event, Task, WebhookDelivery)}
    await dispose_engine()
    assert outbox == {"tasks": 2 * args.events, "events": args.events}, outbox
    assert n_deliveries == args.events
    assert left == {"Event": args.events, "Task": 2 * args.events, "WebhookDelivery": args.events}
    return {
        "db": url.split(":")[0],
        "old_events": args.events,
        "rows_seeded": 8 * args.events,
        "seed_seconds": round(seeded, 1),
        "rows_deleted": deleted,
        "outbox_seconds": round(t_outbox, 2),
        "deliveries_seconds": round(t_deliveries, 2),
        "rows_deleted_per_s": round(deleted / (t_outbox + t_deliveries)),
        "nova_cpu_s": round(cpu, 2),
        "left": left,
    }


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    p.add_argument("--events", type=int, default=100_000, help="old events to prune")
    args = p.parse_args()
    print(json.dumps({"machine_before": machine.snapshot()}))
    print(json.dumps(asyncio.run(run(args))))
    print(json.dumps({"machine_after": machine.snapshot()}))


if __name__ == "__main__":
    main()
