"""Quality benchmarks: redaction and judge-output parsing cost, and end-to-end scoring
throughput (call.transcribed → judge over loopback HTTP → score + call.scored) through the
task pump.

    cd <checkout> && PYTHONPATH=. /work/.venv/bin/python bench/quality_scoring.py [N]

Uses a temporary SQLite file unless NOVA_BENCH_DATABASE_URL is set (PostgreSQL: the
schema is reset). The judge is tests/fakes/openai_server.FakeOpenAI answering instantly, so
the figure is Nova's own overhead per scored call, not a model's latency.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200
_tmp = Path(tempfile.mkdtemp(prefix="nova-bench-"))
DB = os.environ.get("NOVA_BENCH_DATABASE_URL") or f"sqlite+aiosqlite:///{_tmp / 'bench.db'}"
os.environ.update({"NOVA_DATABASE_URL": DB, "NOVA_ENV": "development"})
os.environ.pop("OPENAI_API_KEY", None)

from pydantic import SecretStr  # noqa: E402
from sqlalchemy import func, select  # noqa: E402

import nova.models  # noqa: E402, F401
from nova.core.db import init_engine, session_scope  # noqa: E402
from nova.core.events import emit  # noqa: E402
from nova.core.migrate import upgrade  # noqa: E402
from nova.core.pump import TaskPump  # noqa: E402
from nova.core.settings import get_settings  # noqa: E402
from nova.models.calls import Call, CallContext  # noqa: E402
from nova.models.quality import CallScore  # noqa: E402
from nova.quality.judge import parse_judgement  # noqa: E402
from nova.quality.redact import redact_turns  # noqa: E402
from nova.quality.rubric import DIMENSION_KEYS  # noqa: E402
from tests.fakes.openai_server import FakeOpenAI  # noqa: E402

TURNS = [
    {"role": "agent", "text": "Hi Sarah, this is Nova calling about Acme CRM, got a minute?"},
    {"role": "user", "text": "Sure. Reach me at +1 415 555 0100 or sarah.connor@example.com."},
    {"role": "agent", "text": "Thanks Sarah. How many people on your sales team today?"},
    {"role": "user", "text": "About twelve, I'm Sarah Connor, the head of sales."},
] * 5  # 20 turns


def judgement() -> dict:
    return {
        "dimensions": {k: {"score": 4, "reason": "solid"} for k in DIMENSION_KEYS},
        "overall": 80,
        "goal_outcome": "achieved",
        "summary": "Ask earlier.",
    }


def bench_cpu() -> None:
    t0 = time.perf_counter()
    for _ in range(1000):
        redact_turns(TURNS, ["Sarah Connor"])
    red = (time.perf_counter() - t0) / 1000 * 1e6
    raw = json.dumps(judgement())
    t0 = time.perf_counter()
    for _ in range(10000):
        parse_judgement(raw)
    parse = (time.perf_counter() - t0) / 10000 * 1e6
    print(f"redact 20-turn transcript: {red:.0f} µs")
    print(f"parse + validate judge output: {parse:.1f} µs")


async def bench_e2e() -> None:
    if DB.startswith("postgresql"):
        import pgdb

        await pgdb.fresh_schema(DB)
    await asyncio.to_thread(upgrade, DB)
    settings = get_settings()
    init_engine(settings)
    async with FakeOpenAI(chat=lambda body: json.dumps(judgement())) as fake:
        settings.openai_base_url = fake.base_url
        settings.openai_api_key = SecretStr("sk-bench")
        ids = []
        async with session_scope() as s:
            for _ in range(N):
                ctx = CallContext(batch_id=str(uuid.uuid4()), product="Acme", goal="book_meeting")
                s.add(ctx)
                await s.flush()
                call = Call(
                    batch_id=ctx.batch_id,
                    context_id=ctx.id,
                    phone="+14155550100",
                    owner_email="o@example.com",
                    goal="book_meeting",
                    room_name=f"call-{ctx.id}",
                    transcript=TURNS,
                    status="completed",
                )
                s.add(call)
                ids.append(call.id)
        async with session_scope() as s:
            for cid in ids:
                await emit(s, "call.transcribed", {"call_id": cid})
        pump = TaskPump(concurrency=32, batch_size=64, lease_seconds=60)
        t0 = time.perf_counter()
        await pump.drain(max_rounds=10_000)
        wall = time.perf_counter() - t0
        async with session_scope() as s:
            done = await s.scalar(
                select(func.count()).select_from(CallScore).where(CallScore.status == "scored")
            )
    assert done == N, done
    backend = "postgresql" if DB.startswith("postgresql") else "sqlite"
    print(
        f"end-to-end scoring, {N} calls, {backend}, pump concurrency 32: {wall:.2f} s "
        f"({N / wall:.0f} calls/s, {wall / N * 1000:.1f} ms/call)"
    )


if __name__ == "__main__":
    bench_cpu()
    asyncio.run(bench_e2e())
    _ = statistics  # keep the import for ad-hoc percentiles
