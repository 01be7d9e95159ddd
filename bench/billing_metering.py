"""Billing benchmarks: minute reservation + settlement throughput, a contended race for the
last minutes, and signed Stripe webhook handling through the ASGI app.

    /work/.venv/bin/python bench/billing_metering.py                 # temp SQLite file
    NOVA_BENCH_DATABASE_URL=postgresql+asyncpg://... /work/.venv/bin/python bench/billing_metering.py
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

_tmp = Path(tempfile.mkdtemp(prefix="nova-bench-"))
URL = os.environ.get("NOVA_BENCH_DATABASE_URL") or f"sqlite+aiosqlite:///{_tmp / 'bench.db'}"
os.environ.update(
    {
        "NOVA_ENV": "development",
        "NOVA_DATABASE_URL": URL,
        "NOVA_BACKGROUND_RUNNER": "false",
        "STRIPE_WEBHOOK_SECRET": "whsec_bench",
    }
)

import httpx  # noqa: E402
import stripe  # noqa: E402
from sqlalchemy import text  # noqa: E402

from nova.api.app import create_app  # noqa: E402
from nova.billing import metering  # noqa: E402
from nova.core.db import dispose_engine, init_engine, session_scope  # noqa: E402
from nova.core.errors import PaymentRequired  # noqa: E402
from nova.core.events import emit  # noqa: E402
from nova.core.migrate import upgrade  # noqa: E402
from nova.core.pump import TaskPump  # noqa: E402
from nova.core.settings import get_settings  # noqa: E402
from nova.models.user import User  # noqa: E402


async def reset_pg() -> None:
    import pgdb

    await pgdb.fresh_schema(URL)


async def new_user(minutes: int) -> str:
    async with session_scope() as s:
        user = User(email=f"{uuid.uuid4()}@bench.local", password_hash="x")
        s.add(user)
        await s.flush()
        account = metering.open_trial_account(get_settings(), user)
        account.seconds_included = minutes * 60
        s.add(account)
    return user.id


async def bench_reserve_settle(n: int) -> None:
    uid = await new_user(minutes=n * 2)
    pump = TaskPump(concurrency=8, batch_size=64, lease_seconds=30)
    t0 = time.perf_counter()
    for _ in range(n):
        call_id = str(uuid.uuid4())
        async with session_scope() as s:
            await metering.reserve(s, uid, [call_id], 60)
        async with session_scope() as s:
            await emit(s, "call.ended", {"call_id": call_id, "duration_seconds": 37.4})
    t1 = time.perf_counter()
    await pump.drain(max_rounds=10_000)
    t2 = time.perf_counter()
    async with session_scope() as s:
        acc = (
            await s.execute(
                text(
                    "SELECT seconds_used, seconds_reserved FROM billing_accounts WHERE user_id=:u"
                ),
                {"u": uid},
            )
        ).one()
    assert (acc[0], acc[1]) == (38 * n, 0), acc
    print(
        f"reserve+emit call.ended, sequential: {n} calls in {t1 - t0:.2f} s "
        f"({n / (t1 - t0):.0f} calls/s); settlement via pump: {n / (t2 - t1):.0f} calls/s"
    )


async def bench_race(batches: int, minutes: int) -> None:
    uid = await new_user(minutes=minutes)

    async def attempt() -> int:
        try:
            async with session_scope() as s:
                await metering.reserve(s, uid, [str(uuid.uuid4())], 60)
            return 1
        except PaymentRequired:
            return 0

    t0 = time.perf_counter()
    won = sum(await asyncio.gather(*(attempt() for _ in range(batches))))
    dt = time.perf_counter() - t0
    async with session_scope() as s:
        reserved = (
            await s.execute(
                text("SELECT seconds_reserved FROM billing_accounts WHERE user_id=:u"), {"u": uid}
            )
        ).scalar_one()
    assert won == minutes and reserved == minutes * 60, (won, reserved)
    print(
        f"race: {batches} concurrent 1-call batches for {minutes} free minutes: {won} won, "
        f"no overspend, {dt:.2f} s ({batches / dt:.0f} attempts/s)"
    )


async def bench_webhooks(n: int) -> None:
    app = create_app(get_settings(), background=False)
    transport = httpx.ASGITransport(app=app)
    uid = await new_user(minutes=10)
    async with httpx.AsyncClient(transport=transport, base_url="http://bench") as client:
        t0 = time.perf_counter()
        for i in range(n):
            now = int(time.time())
            sub = {
                "id": "sub_bench",
                "object": "subscription",
                "customer": "cus_bench",
                "status": "active",
                "created": now - 10,
                "cancel_at_period_end": False,
                "metadata": {"nova_plan": "starter", "nova_user_id": uid},
                "items": {
                    "object": "list",
                    "data": [
                        {
                            "id": "si_1",
                            "price": {"id": "price_x"},
                            "current_period_start": now - 10,
                            "current_period_end": now + 86400 * 30,
                        }
                    ],
                },
            }
            body = json.dumps(
                {
                    "id": f"evt_{i}",
                    "object": "event",
                    "type": "customer.subscription.updated",
                    "created": now + i,
                    "data": {"object": sub},
                }
            )
            sig = stripe.WebhookSignature.generate_signature_header(body, "whsec_bench")
            r = await client.post(
                "/billing/webhook", content=body, headers={"Stripe-Signature": sig}
            )
            assert r.status_code == 200, r.text
        dt = time.perf_counter() - t0
    print(f"stripe webhook (verify + store + apply), sequential: {n / dt:.0f} events/s")


async def main() -> None:
    if URL.startswith("postgresql"):
        await reset_pg()
    await asyncio.to_thread(upgrade, URL)
    init_engine(get_settings())
    print(f"database: {URL.split('://')[0]}")
    await bench_reserve_settle(300)
    await bench_race(batches=60, minutes=20)
    await bench_webhooks(200)
    await dispose_engine()


if __name__ == "__main__":
    asyncio.run(main())
