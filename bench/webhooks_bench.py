"""Webhook delivery bench: events emitted through the outbox → fan-out task → delivery rows →
signed HTTPS POSTs to a local receiver (a separate process) over loopback.

    python bench/webhooks_bench.py --db sqlite
    python bench/webhooks_bench.py --db postgres \
        --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/nova_webhooks

Nova runs in this process exactly as inside ``nova serve`` (uvloop, the BackgroundRunner
with the task pump and the webhook delivery loop), and the emitter runs here too, one
transaction per event as the calls domain does. Phases:

* ``low``: 20 events/s for 5 s — event-to-first-attempt latency when idle;
* ``rate-N``: N events/s (``--rates``, 1 webhook each) for ``--seconds`` s — does delivery
  keep up, and the latency under that load;
* ``burst``: ``--burst`` events queued while the runner is stopped, then the runner starts —
  the maximum drain rate (deliveries/s) from a backlog.

Latency = receiver arrival time - the emitter's clock just before the event's commit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import httpx  # noqa: E402
import machine  # noqa: E402
import pgdb  # noqa: E402
import uvloop  # noqa: E402

os.environ.setdefault("NOVA_ENV", "development")

from nova.core.db import dispose_engine, init_engine, session_scope  # noqa: E402
from nova.core.events import emit, load_plugins, set_notify  # noqa: E402
from nova.core.migrate import upgrade  # noqa: E402
from nova.core.runner import BackgroundRunner  # noqa: E402
from nova.core.settings import Settings  # noqa: E402
from nova.models.user import User  # noqa: E402
from nova.models.webhooks import Webhook  # noqa: E402
from nova.webhooks.signing import seal_key  # noqa: E402
from tests.webhooks.receiver import make_tls_files  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


class Bench:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.tmp = Path(tempfile.mkdtemp(prefix="nova-wh-bench-"))
        self.ca, cert, key = make_tls_files(self.tmp)
        self.port = free_port()
        self.receiver = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "bench" / "webhooks_receiver.py"),
                str(cert),
                str(key),
                str(self.port),
            ],
            stdout=subprocess.PIPE,
        )
        assert self.receiver.stdout is not None
        assert self.receiver.stdout.readline().strip() == b"ready"
        self.http = httpx.AsyncClient(
            verify=str(self.ca), base_url=f"https://127.0.0.1:{self.port}"
        )
        url = args.database_url or f"sqlite+aiosqlite:///{self.tmp / 'bench.db'}"
        self.settings = Settings(
            database_url=url,
            webhook_ca_bundle=str(self.ca),
            webhook_allow_cidrs=["127.0.0.1/32"],
            webhook_concurrency=args.concurrency,
            pump_concurrency=args.pump_concurrency,
            db_pool_size=args.db_pool_size,
            # Events from another process: that process's commits wake this one's pump
            # through PostgreSQL NOTIFY, as between `nova serve --workers N` processes.
            pump_notify=args.emitter == "process",
        )
        self.user_id = ""
        self.runner: BackgroundRunner | None = None

    async def setup(self) -> None:
        url = self.settings.database_url
        if url.startswith("postgresql"):
            await pgdb.fresh_schema(url)
        await asyncio.to_thread(upgrade, url)
        init_engine(self.settings)
        load_plugins()
        async with session_scope() as s:
            user = User(email="bench@example.com", password_hash="x")
            s.add(user)
            await s.flush()
            s.add(
                Webhook(
                    user_id=user.id,
                    url=f"https://127.0.0.1:{self.port}/hook",
                    events=["call.started", "call.ended", "call.transcribed", "call.scored"],
                    signing_key=seal_key(self.settings, "bench-secret"),
                )
            )
            self.user_id = user.id

    async def start_runner(self) -> None:
        self.runner = BackgroundRunner(self.settings)
        await self.runner.start()

    async def stop_runner(self) -> None:
        if self.runner is not None:
            await self.runner.stop()
            self.runner = None

    async def emit_one(self, i: int) -> None:
        async with session_scope() as s:
            await emit(
                s,
                "call.ended",
                {
                    "call_id": f"bench-{i}",
                    "customer_id": self.user_id,
                    "outcome": "qualified",
                    "duration_seconds": 187,
                    "bench_t": time.time(),
                },
            )

    async def emit_at_rate(self, rate: float, seconds: float, start: int) -> tuple[int, float]:
        """Emit ``rate`` events/s, each in its own transaction, from up to 32 concurrent
        emitters (API requests are concurrent too)."""
        n = int(rate * seconds)
        sem = asyncio.Semaphore(32)
        tasks = []

        async def one(i: int) -> None:
            try:
                await self.emit_one(i)
            finally:
                sem.release()

        t0 = time.perf_counter()
        for i in range(n):
            delay = t0 + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await sem.acquire()
            tasks.append(asyncio.create_task(one(start + i)))
        await asyncio.gather(*tasks)
        return n, time.perf_counter() - t0

    async def wait_received(self, n: int, limit: float = 300) -> None:
        deadline = time.time() + limit
        while time.time() < deadline:
            stats = (await self.http.get("/count")).json()
            if stats["unique"] >= n:
                return
            await asyncio.sleep(0.25)
        raise SystemExit(f"only {stats['unique']} of {n} deliveries arrived in {limit}s")

    async def records(self) -> list[tuple[str, float, float]]:
        return [tuple(r) for r in (await self.http.get("/stats")).json()["records"]]

    def summarize(self, name: str, recs: list, extra: dict, quiet: bool = False) -> dict:
        first: dict[str, tuple[float, float]] = {}
        for did, t, arrival in recs:
            if did not in first or arrival < first[did][1]:
                first[did] = (t, arrival)
        lat = [(a - t) * 1000 for t, a in first.values()]
        arrivals = sorted(a for _, a in first.values())
        span = arrivals[-1] - arrivals[0] if len(arrivals) > 1 else float("nan")
        out = {
            "phase": name,
            "deliveries": len(first),
            "duplicates": len(recs) - len(first),
            "deliveries_per_s": round((len(first) - 1) / span, 1) if span else None,
            "latency_ms_p50": round(pct(lat, 50), 1),
            "latency_ms_p95": round(pct(lat, 95), 1),
            "latency_ms_p99": round(pct(lat, 99), 1),
            "latency_ms_max": round(max(lat), 1),
            **extra,
        }
        if not quiet:
            print(json.dumps(out), flush=True)
        return out

    async def emit_in_process(self, rate: float, seconds: float, start: int) -> tuple[int, float]:
        """Run the emitter as a separate process (the API/calls side of the system)."""
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            __file__,
            "--emit-only",
            "--database-url",
            self.settings.database_url,
            "--user-id",
            self.user_id,
            "--rate",
            str(rate),
            "--seconds",
            str(seconds),
            "--start",
            str(start),
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await proc.communicate()
        n, took = json.loads(out.decode().strip().splitlines()[-1])
        return n, took

    async def phase_rate(self, name: str, rate: float, seconds: float, start: int) -> dict:
        await self.http.post("/reset")
        cpu0 = time.process_time()
        if self.args.emitter == "process":
            n, took = await self.emit_in_process(rate, seconds, start)
        else:
            n, took = await self.emit_at_rate(rate, seconds, start)
        await self.wait_received(n)
        cpu = time.process_time() - cpu0
        return self.summarize(
            name,
            await self.records(),
            {
                "nova_cpu_ms_per_event": round(cpu * 1000 / n, 2),
                "target_rate": rate,
                "emitted_per_s": round(n / took, 1),
                "emitter": self.args.emitter,
            },
        )

    async def phase_burst(self, n: int, start: int) -> dict:
        await self.stop_runner()
        await self.http.post("/reset")
        cpu0 = time.process_time()
        for chunk in range(0, n, 500):
            async with session_scope() as s:
                for i in range(chunk, min(n, chunk + 500)):
                    await emit(
                        s,
                        "call.ended",
                        {"call_id": f"burst-{start + i}", "customer_id": self.user_id},
                    )
        cpu_emit = time.process_time() - cpu0
        t0 = time.time()
        cpu0 = time.process_time()
        prof = None
        if self.args.profile:
            import cProfile

            prof = cProfile.Profile()
            prof.enable()
        await self.start_runner()
        await self.wait_received(n)
        cpu = time.process_time() - cpu0
        if prof is not None:
            import pstats

            prof.disable()
            pstats.Stats(prof).sort_stats("tottime").print_stats(45)
        recs = await self.records()
        last = max(a for _, _, a in recs)
        out = self.summarize("burst", [(d, t0, a) for d, _, a in recs], {}, quiet=True)
        out["drain_seconds"] = round(last - t0, 2)
        out["deliveries_per_s_incl_startup"] = round(n / (last - t0), 1)
        out["nova_cpu_ms_per_delivery"] = round(cpu * 1000 / n, 2)
        out["emit_cpu_ms_per_event_500_per_txn"] = round(cpu_emit * 1000 / n, 2)
        print(json.dumps(out), flush=True)
        return out

    async def run(self) -> list[dict]:
        results = []
        try:
            await self.setup()
            await self.start_runner()
            results.append(await self.phase_rate("low", 20, 5, 0))
            for k, rate in enumerate(float(r) for r in self.args.rates.split(",")):
                results.append(
                    await self.phase_rate(
                        f"rate-{rate:g}", rate, self.args.seconds, 1_000_000 * (k + 1)
                    )
                )
            if self.args.burst:
                results.append(await self.phase_burst(self.args.burst, 2_000_000))
        finally:
            await self.stop_runner()
            await self.http.aclose()
            await dispose_engine()
            self.receiver.terminate()
        return results


async def emit_only(args: argparse.Namespace) -> None:
    settings = Settings(database_url=args.database_url, pump_notify=True)
    init_engine(settings)
    set_notify(settings.pump_notify_enabled)
    load_plugins()
    bench = Bench.__new__(Bench)
    bench.settings = settings
    bench.user_id = args.user_id
    n, took = await bench.emit_at_rate(args.rate, args.seconds, args.start)
    await dispose_engine()
    print(json.dumps([n, took]))


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--database-url")
    p.add_argument("--rates", default="100,300", help="sustained phases, events/s")
    p.add_argument("--rate", type=float, default=300, help=argparse.SUPPRESS)
    p.add_argument("--seconds", type=float, default=20)
    p.add_argument("--burst", type=int, default=5000)
    p.add_argument("--concurrency", type=int, default=64)
    p.add_argument("--pump-concurrency", type=int, default=32)
    p.add_argument("--db-pool-size", type=int, default=20)
    p.add_argument("--profile", action="store_true", help="cProfile the burst drain")
    p.add_argument(
        "--emitter",
        choices=["process", "inline"],
        default="inline",
        help="emit events from the Nova process (default, like API requests inside `nova serve`)"
        " or from a separate process",
    )
    p.add_argument("--emit-only", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--user-id", help=argparse.SUPPRESS)
    p.add_argument("--start", type=int, default=0, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.emit_only:
        uvloop.run(emit_only(args))
        return
    if args.db == "postgres" and not args.database_url:
        args.database_url = "postgresql+asyncpg://postgres@127.0.0.1:5432/nova_webhooks"
    print(json.dumps({"db": args.db, "machine_before": machine.snapshot()}))
    uvloop.run(Bench(args).run())
    print(json.dumps({"machine_after": machine.snapshot()}))


if __name__ == "__main__":
    main()
