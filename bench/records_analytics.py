"""GET /v1/analytics over 1,000,000 calls on PostgreSQL (target: p95 ≤ 200 ms).

    python bench/records_analytics.py --db postgresql+asyncpg://postgres@127.0.0.1:5432/nova_bench_i20

Seeds one account with ``--calls`` calls spread over the last 365 days (four goals, the
outcome mix of a real campaign, durations, a quality score on 60 % of them and per-turn
latency samples on every one) with set-based INSERTs, builds the daily rollup with the
real ``rebuild_day`` (what the ``records.rollup`` task runs) and times it, then serves the
app with ``nova serve`` and times sequential requests of GET /v1/analytics for 30, 90 and
365 days (and 365 days of one goal). Same-run references: GET /health (a bare endpoint
with one COUNT) and GET /v1/records/settings (bearer auth + one primary-key read), and the
30-day figures computed straight from the calls table without the rollup.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
os.environ.setdefault("NOVA_ENV", "development")

import httpx  # noqa: E402
import machine  # noqa: E402
import pgdb  # noqa: E402
from calls_bench import free_port, stop  # noqa: E402
from sqlalchemy import text  # noqa: E402

from nova.core.db import dispose_engine, init_engine, session_scope  # noqa: E402
from nova.core.migrate import upgrade  # noqa: E402
from nova.core.settings import Settings  # noqa: E402
from nova.records.analytics import rebuild_day  # noqa: E402

DAYS = 365
UID = "00000000-0000-4000-8000-00000000b001"

SEED_CALLS = """
INSERT INTO calls (id, user_id, batch_id, context_id, phone, lead_name, owner_email, goal,
  language, mode, status, room_name, sms_sent, reserved_seconds, started_at, ended_at,
  duration_seconds, outcome, goal_completed, result, created_at)
SELECT gen_random_uuid()::text, :uid, :ctx, :ctx, '+9715' || lpad((i % 10000000)::text, 8, '0'),
  'Lead ' || i, 'owner@example.com',
  (ARRAY['book_meeting','qualify_interest','collect_info','close_sale'])[1 + i % 4],
  'en', 'sip', CASE WHEN i % 50 = 0 THEN 'failed' ELSE 'completed' END, 'call-' || i, false, 60,
  t, CASE WHEN i % 50 = 0 THEN NULL ELSE t + interval '2 minutes' END,
  CASE WHEN i % 50 = 0 THEN NULL WHEN i % 10 IN (0, 1) THEN 0 ELSE 30 + i % 240 END,
  CASE WHEN i % 50 = 0 THEN NULL
       ELSE (ARRAY['no_answer','busy','qualified','meeting_booked','not_interested',
                   'callback_requested','interested','voicemail','not_qualified','sale_closed'])[1 + i % 10] END,
  CASE WHEN i % 50 = 0 THEN NULL ELSE i % 10 IN (2, 3, 9) END,
  '{}'::jsonb, t
FROM (SELECT i, CAST(:start AS timestamptz) + (i * CAST(:step AS float8)) * interval '1 second' AS t
      FROM generate_series(CAST(:lo AS int), CAST(:hi AS int)) AS i) s
"""

SEED_METRICS = """
INSERT INTO call_metrics (call_id, user_id, samples, summary, interruptions, turns,
  created_at, updated_at)
SELECT id, user_id, jsonb_build_object(
    'eou_delay_ms', jsonb_build_array(300 + random() * 500, 300 + random() * 500, 300 + random() * 900),
    'llm_ttft_ms', jsonb_build_array(200 + random() * 400, 200 + random() * 400, 250 + random() * 900),
    'tts_ttfb_ms', jsonb_build_array(120 + random() * 200, 120 + random() * 300),
    'e2e_ms', jsonb_build_array(800 + random() * 900, 800 + random() * 1600)),
  '{}'::jsonb, (random() * 2)::int, 8, created_at, created_at
FROM calls WHERE user_id = :uid AND ended_at IS NOT NULL
"""

SEED_SCORES = """
INSERT INTO call_scores (id, call_id, status, overall, attempts, created_at, updated_at)
SELECT gen_random_uuid()::text, id, 'scored', 40 + (abs(hashtext(id)) % 60), 1, created_at, created_at
FROM calls WHERE user_id = :uid AND ended_at IS NOT NULL AND abs(hashtext(id)) % 10 < 6
"""

DIRECT_30_DAYS = """
SELECT goal, count(*), count(ended_at), sum(coalesce(duration_seconds, 0)),
  sum(CASE WHEN goal_completed THEN 1 ELSE 0 END)
FROM calls WHERE user_id = :uid AND created_at >= :lo AND created_at < :hi
GROUP BY goal, date_trunc('day', created_at)
"""


async def seed(db: str, n: int) -> tuple[str, float]:
    await pgdb.fresh_schema(db)
    await asyncio.to_thread(upgrade, db)
    init_engine(Settings(database_url=db))
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(days=DAYS - 1)
    start = start.replace(hour=0, minute=0, second=0)
    step = (now - start).total_seconds() / n
    t0 = time.perf_counter()
    async with session_scope() as s:
        uid = UID
        await s.execute(
            text(
                "INSERT INTO users (id, email, password_hash, email_verified, is_admin, "
                "token_version, features, created_at) VALUES (:id, 'bench@example.com', 'x', "
                "false, false, 0, '{}', now())"
            ),
            {"id": uid},
        )
        await s.execute(
            text(
                "INSERT INTO call_contexts (id, user_id, batch_id, product, goal, language, lead,"
                " request, agent_instructions, opening_line, qualification_questions, "
                "objection_handlers, closing_script, product_facts, source, created_at) VALUES "
                "(:id, :uid, :id, 'Bench', 'book_meeting', 'en', '{}', '{}', '', '', '[]', '[]',"
                " '', '[]', 'template', now())"
            ),
            {"id": "00000000-0000-4000-8000-00000000c001", "uid": uid},
        )
    chunk = 100_000
    for lo in range(0, n, chunk):
        async with session_scope() as s:
            await s.execute(
                text(SEED_CALLS),
                {
                    "uid": uid,
                    "ctx": "00000000-0000-4000-8000-00000000c001",
                    "start": start,
                    "step": step,
                    "lo": lo,
                    "hi": min(n, lo + chunk) - 1,
                },
            )
        print(f"  calls {min(n, lo + chunk):>9,}", flush=True)
    async with session_scope() as s:
        await s.execute(text(SEED_METRICS), {"uid": uid})
        await s.execute(text(SEED_SCORES), {"uid": uid})
    async with session_scope() as s:
        await s.execute(text("ANALYZE"))
    return uid, time.perf_counter() - t0


async def build_rollup(uid: str) -> dict:
    today = datetime.now(UTC).date()
    took = []
    for k in range(DAYS):
        day = today - timedelta(days=k)
        t = time.perf_counter()
        async with session_scope() as s:
            await rebuild_day(s, uid, day)
        took.append((time.perf_counter() - t) * 1000)
    async with session_scope() as s:
        rows = await s.scalar(
            text(
                "SELECT (SELECT count(*) FROM analytics_daily) + (SELECT count(*) FROM analytics_monthly)"
            )
        )
        calls = await s.scalar(text("SELECT sum(calls) FROM analytics_daily WHERE goal = '*'"))
    return {
        "rollup_rows": rows,
        "calls_in_rollup": int(calls or 0),
        "rebuild_ms_p50": round(statistics.median(took), 1),
        "rebuild_ms_max": round(max(took), 1),
        "rebuild_total_s": round(sum(took) / 1000, 1),
    }


async def direct_reference(uid: str, repeat: int) -> dict:
    now = datetime.now(UTC)
    took = []
    for _ in range(repeat):
        t = time.perf_counter()
        async with session_scope() as s:
            await s.execute(
                text(DIRECT_30_DAYS), {"uid": uid, "lo": now - timedelta(days=30), "hi": now}
            )
        took.append((time.perf_counter() - t) * 1000)
    return pct(took)


def pct(values: list[float]) -> dict:
    ordered = sorted(values)

    def at(q: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 1)

    return {"n": len(values), "p50": at(0.5), "p95": at(0.95), "p99": at(0.99), "max": at(1.0)}


def start_app(db: str) -> tuple:
    import subprocess
    import urllib.request

    port = free_port()
    env = {
        **os.environ,
        "NOVA_ENV": "development",
        "NOVA_DATABASE_URL": db,
        "NOVA_LOG_LEVEL": "WARNING",
        "NOVA_BACKGROUND_RUNNER": "false",
    }
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "LIVEKIT_URL"):
        env.pop(var, None)
    cmd = [sys.executable, "-m", "nova", "serve", "--host", "127.0.0.1", "--port", str(port)]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180  # a loaded 2-core machine starts slowly
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/health", timeout=1) as r:  # noqa: S310
                if r.status == 200:
                    return proc, base
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the app did not start")


def timed(client: httpx.Client, path: str, n: int, headers: dict) -> dict:
    for _ in range(10):
        client.get(path, headers=headers).raise_for_status()
    took = []
    for _ in range(n):
        t = time.perf_counter()
        r = client.get(path, headers=headers)
        took.append((time.perf_counter() - t) * 1000)
        r.raise_for_status()
    return pct(took)


def token_for(uid: str) -> str:
    from nova.core.security import create_access_token

    return create_access_token(Settings(), uid, 0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--db", default="postgresql+asyncpg://postgres@127.0.0.1:5432/nova_bench_i20")
    ap.add_argument("--calls", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument(
        "--reuse", action="store_true", help="keep the seeded database and rollup of a last run"
    )
    args = ap.parse_args()
    out: dict = {"machine_before": machine.snapshot(), "calls": args.calls}

    async def prepare() -> str:
        uid, seconds = await seed(args.db, args.calls)
        out["seed_s"] = round(seconds, 1)
        out["rollup"] = await build_rollup(uid)
        async with session_scope() as s:
            await s.execute(text("ANALYZE"))
        out["direct_30_days_sql_ms"] = await direct_reference(uid, 20)
        await dispose_engine()
        return uid

    uid = UID if args.reuse else asyncio.run(prepare())
    print(json.dumps(out, indent=2), flush=True)
    proc, base = start_app(args.db)
    try:
        auth = {"Authorization": f"Bearer {token_for(uid)}"}
        today = datetime.now(UTC).date()

        def period(days: int) -> str:
            return f"start={(today - timedelta(days=days - 1)).isoformat()}&end={today.isoformat()}"

        with httpx.Client(base_url=base, timeout=30) as c:
            body = c.get(f"/v1/analytics?{period(365)}", headers=auth).json()
            out["check_total_calls_365d"] = body["totals"]["calls"]
            out["check_p95_e2e_ms_365d"] = body["totals"]["latency"]["e2e_ms"]["p95"]
            n = args.requests
            out["ref_health"] = timed(c, "/health", n, {})
            out["ref_records_settings"] = timed(c, "/v1/records/settings", n, auth)
            out["analytics_30d"] = timed(c, f"/v1/analytics?{period(30)}", n, auth)
            out["analytics_90d"] = timed(c, f"/v1/analytics?{period(90)}", n, auth)
            out["analytics_365d"] = timed(c, f"/v1/analytics?{period(365)}", n, auth)
            out["analytics_365d_goal"] = timed(
                c, f"/v1/analytics?{period(365)}&goal=book_meeting", n, auth
            )
    finally:
        stop(proc)
    out["machine_after"] = machine.snapshot()
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
