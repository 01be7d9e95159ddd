"""Compliance gate bench: what one decision costs, alone and in batches, against the
do-not-call read that POST /calls made before the gate (the same-run reference).

    python bench/compliance_gate.py                      # SQLite file
    python bench/compliance_gate.py --db postgresql+asyncpg://postgres@127.0.0.1:5432/nova_bench_i18

Seeds one account with ``--history`` dispatched SIP calls over the last 8 days to
``--numbers`` numbers (US, UAE, UK, a third unanswered) and ``--dnc`` do-not-call entries,
then times ``decide_all`` on batches of 1 and of ``--batch`` dials (distinct numbers, every
rule in play: windows over several zones, caps, consent, the list) and, as the reference,
``dnc.listed`` on the same phones. Nothing is recorded: the decisions' INSERT rides on the
caller's own statement.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
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
from sqlalchemy import insert  # noqa: E402

from nova.compliance import Consent, Dial, decide_all, dnc  # noqa: E402
from nova.core.db import dispose_engine, init_engine, session_scope  # noqa: E402
from nova.core.migrate import upgrade  # noqa: E402
from nova.core.settings import Settings  # noqa: E402
from nova.models.calls import Call, CallContext  # noqa: E402
from nova.models.user import User  # noqa: E402
from nova.models.worker import DoNotCall  # noqa: E402

# New York, Los Angeles, Alaska (two zones), Miami (Florida's caps), Dubai, London.
PREFIXES = ["+1212", "+1310", "+1907", "+1305", "+97150", "+44207"]
CONSENT = Consent("bench", datetime(2026, 1, 1, tzinfo=UTC), "b")


def numbers(n: int) -> list[str]:
    """``n`` distinct numbers, round robin over the prefixes."""
    out = []
    for i in range(n):
        prefix = PREFIXES[i % len(PREFIXES)]
        out.append(f"{prefix}{2_000_000 + i:07d}")
    return out


async def seed(owner: str, phones: list[str], history: int, n_dnc: int, now: datetime) -> None:
    rng = random.Random(7)
    contexts, calls = [], []
    for i in range(history):
        at = now - timedelta(minutes=rng.randrange(8 * 24 * 60))
        ctx = str(uuid.uuid4())
        contexts.append(
            {
                "id": ctx,
                "user_id": owner,
                "batch_id": ctx,
                "product": "p",
                "goal": "qualify_interest",
                "lead": {},
                "request": {},
                "created_at": at,
            }
        )
        calls.append(
            {
                "id": str(uuid.uuid4()),
                "user_id": owner,
                "batch_id": ctx,
                "context_id": ctx,
                "phone": phones[i % len(phones)],
                "owner_email": "o@example.com",
                "goal": "qualify_interest",
                "mode": "sip",
                "status": "completed",
                "room_name": f"call-{ctx}",
                "outcome": "no_answer" if i % 3 == 0 else "qualified",
                "created_at": at,
                "started_at": at,
                "ended_at": at + timedelta(seconds=60),
                "result": {},
            }
        )
    async with session_scope() as s:
        for start in range(0, history, 2000):
            await s.execute(insert(CallContext.__table__), contexts[start : start + 2000])
            await s.execute(insert(Call.__table__), calls[start : start + 2000])
        listed = [
            {
                "id": str(uuid.uuid4()),
                "owner_id": owner,
                "phone": p,
                "source": "api",
                "created_at": now,
            }
            for p in phones[:n_dnc]
        ]
        for start in range(0, len(listed), 2000):
            await s.execute(insert(DoNotCall.__table__), listed[start : start + 2000])


async def timed(fn, rounds: int) -> list[float]:
    out = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        await fn()
        out.append((time.perf_counter() - t0) * 1000)
    return out


def summary(ms: list[float], per: int) -> dict:
    return {
        "median_ms": round(statistics.median(ms), 3),
        "p95_ms": round(sorted(ms)[int(len(ms) * 0.95) - 1], 3),
        "per_dial_us": round(statistics.median(ms) * 1000 / per, 1),
    }


async def run(args: argparse.Namespace) -> dict:
    url = args.db or f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'gate.db'}"
    if url.startswith("postgresql"):
        await pgdb.fresh_schema(url)
    await asyncio.to_thread(upgrade, url)
    init_engine(Settings(database_url=url))
    async with session_scope() as s:
        user = User(email="gate@example.com", password_hash="x")
        s.add(user)
    now = datetime(2026, 6, 12, 15, 0, tzinfo=UTC)  # open in New York and London, not Dubai
    phones = numbers(args.numbers)
    await seed(user.id, phones, args.history, args.dnc, now)
    # Dial numbers the account called (caps read) and the list (a tenth of them listed).
    first = max(0, args.dnc - args.batch // 10)
    batch = phones[first : first + args.batch]
    dials = [Dial(phone=p, owner_id=user.id, consent=CONSENT) for p in batch]
    out: dict = {"db": url.split(":")[0], "numbers": len(phones), "history_calls": args.history}
    for label, size, rounds in (
        ("1 dial", 1, args.rounds),
        (f"{args.batch} dials", args.batch, 20),
    ):
        chosen = dials[:size]
        phones_only = [d.phone for d in chosen]

        async def gate(chosen=chosen):
            async with session_scope() as s:
                await decide_all(s, chosen, now=now)

        async def reference(phones_only=phones_only):
            async with session_scope() as s:
                await dnc.listed(s, user.id, phones_only)

        await gate()  # warm caches (zones per number, profiles)
        ref = await timed(reference, rounds)
        g = await timed(gate, rounds)
        out[label] = {"gate": summary(g, size), "reference_dnc_read": summary(ref, size)}
    async with session_scope() as s:
        verdicts = await decide_all(s, dials, now=now)
    out["verdicts"] = {
        v: sum(1 for d in verdicts if f"{d.verdict}:{d.rule}" == v)
        for v in sorted({f"{d.verdict}:{d.rule}" for d in verdicts})
    }
    await dispose_engine()
    return out


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--db", help="database URL (default: a fresh SQLite file)")
    p.add_argument("--numbers", type=int, default=20_000)
    p.add_argument("--history", type=int, default=100_000, help="SIP calls in the last 8 days")
    p.add_argument("--dnc", type=int, default=2_000)
    p.add_argument("--batch", type=int, default=1_000)
    p.add_argument("--rounds", type=int, default=300)
    args = p.parse_args()
    print(json.dumps({"machine_before": machine.snapshot()}))
    print(json.dumps(asyncio.run(run(args))))
    print(json.dumps({"machine_after": machine.snapshot()}))


if __name__ == "__main__":
    main()
