"""POST /calls benchmark: the app under uvicorn in its own process, loaded from this one.

Network peers run in a third process: the LiveKit Twirp fake (tests/fakes/livekit.py),
an OpenAI-compatible fake whose every completion takes ``--llm-delay`` seconds, and a small
website. Nothing in Nova is faked.

    /work/.venv/bin/python bench/calls_bench.py                 # all scenarios, SQLite
    /work/.venv/bin/python bench/calls_bench.py --db postgresql+asyncpg://.../nova_calls

Scenarios:
  1. throughput  one-lead batches, template briefs, closed loop with --concurrency clients
  2. latency     one-lead batches at a fixed --rate (open loop; latency counted from the
                 scheduled send time, so a stalled server cannot hide its queue)
  3. llm         five-lead batches with a website, briefs from an LLM taking --llm-delay
                 per brief (sequential batches; the site cache is off so every batch
                 fetches the site, once)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import machine  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/0"
PHONES = ["+971501234567", "+971501234568", "+971501234569", "+971501234570", "+971501234571"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- peers process ------------------------------------------------------------------------


async def run_peers(llm_delay: float) -> None:
    from aiohttp import web

    from tests.calls.conftest import HTML, brief_json
    from tests.fakes.livekit import FakeLiveKit
    from tests.fakes.openai_server import FakeOpenAI

    lk = await FakeLiveKit().start()
    lk.recorded_limit = 0
    llm = await FakeOpenAI(chat=lambda body: brief_json(), delay=llm_delay).start()
    hits = {"n": 0}

    async def page(request: web.Request) -> web.Response:
        hits["n"] += 1
        return web.Response(text=HTML, content_type="text/html")

    async def count(request: web.Request) -> web.Response:
        return web.json_response(
            {
                "site_hits": hits["n"],
                "dispatches": len(lk.dispatches),
                "llm_requests": len(llm.requests),
            }
        )

    app = web.Application()
    app.router.add_get("/", page)
    app.router.add_get("/_count", count)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    site_port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    print(
        json.dumps(
            {"livekit": lk.url, "llm": llm.base_url, "site": f"http://127.0.0.1:{site_port}"}
        ),
        flush=True,
    )

    # Keep memory flat over a long run: the fake records every request.
    async def trim() -> None:
        while True:
            await asyncio.sleep(1)
            del lk.recorded[:]
            llm.requests[:] = llm.requests[-1000:]

    asyncio.get_running_loop().create_task(trim())
    await asyncio.Event().wait()


# --- orchestration ------------------------------------------------------------------------


def start_peers(llm_delay: float) -> tuple[subprocess.Popen, dict]:
    proc = subprocess.Popen(
        [sys.executable, __file__, "--peers", "--llm-delay", str(llm_delay)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    urls = json.loads(proc.stdout.readline())
    return proc, urls


def start_app(
    db_url: str, peers: dict, *, llm: bool, workers: int = 1
) -> tuple[subprocess.Popen, str]:
    from tests.fakes.livekit import API_KEY, API_SECRET

    port = free_port()
    env = {
        **os.environ,
        "NOVA_ENV": "development",
        "NOVA_DATABASE_URL": db_url,
        "NOVA_LOG_LEVEL": "WARNING",
        "NOVA_CALLS_RATE_LIMIT": "100000000",
        "NOVA_BACKGROUND_RUNNER": os.environ.get("NOVA_BACKGROUND_RUNNER", "true"),
        "NOVA_SSRF_ALLOW_CIDRS": '["127.0.0.0/8"]',
        "NOVA_SCRAPE_CACHE_TTL_SECONDS": "0",
        "LIVEKIT_URL": peers["livekit"],
        "LIVEKIT_API_KEY": API_KEY,
        "LIVEKIT_API_SECRET": API_SECRET,
    }
    env.pop("OPENAI_API_KEY", None)
    env.pop("OPENAI_BASE_URL", None)
    if llm:
        env["OPENAI_BASE_URL"] = peers["llm"]
        env["OPENAI_API_KEY"] = "sk-bench"
        env["NOVA_BRIEF_LLM_TIMEOUT_SECONDS"] = "5"
    if workers > 1:
        # `nova serve --workers N` insists on shared rate limits (Redis): each request pays
        # its round trip, as in production.
        env.setdefault("NOVA_REDIS_URL", os.environ.get("NOVA_BENCH_REDIS_URL", REDIS_URL))
    # The real serving command (uvicorn, logging, N worker processes), not a bare uvicorn.
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nova",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    import urllib.request

    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(base + "/health", timeout=1) as r:  # noqa: S310
                if r.status == 200:
                    return proc, base
        except OSError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("the app did not start")


def cpu_seconds(pid: int) -> float:
    """User + system CPU of ``pid`` and its direct children (uvicorn workers)."""
    return cpu_by_owner(pid)["server"]


def cpu_by_owner(server_pid: int, peers_pid: int = -1) -> dict[str, float]:
    """CPU seconds so far of the server (and its worker processes), the peers process,
    PostgreSQL's processes and this load generator: where the machine's two cores went."""
    tick = os.sysconf("SC_CLK_TCK")
    out = {"server": 0.0, "peers": 0.0, "postgres": 0.0, "client": time.process_time()}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            comm, rest = (entry / "stat").read_text().rsplit(")", 1)
        except OSError:
            continue
        fields = rest.split()
        pid, ppid = int(entry.name), int(fields[1])
        used = (int(fields[11]) + int(fields[12])) / tick
        if pid == server_pid or ppid == server_pid:
            out["server"] += used
        elif pid == peers_pid:
            out["peers"] += used
        elif comm.endswith("(postgres"):
            out["postgres"] += used
    return out


def stop(proc: subprocess.Popen) -> None:
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()


def one_lead(i: int) -> dict:
    return {
        "owner_email": "owner@example.com",
        "product": "CloudSync CRM",
        "context": "Mid-market CRM, AED 99/seat, main objection is migration effort",
        "goal": "qualify_interest",
        "consent": True,
        "leads": [{"phone": PHONES[i % 5], "name": "Sarah", "company": "Acme Corp"}],
    }


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(p / 100 * len(values)) - 1))
    return values[k]


def summary(name: str, lat: list[float], errors: int, elapsed: float) -> dict:
    ms = [x * 1000 for x in lat]
    return {
        "scenario": name,
        "requests": len(lat),
        "errors": errors,
        "seconds": round(elapsed, 2),
        "batches_per_s": round(len(lat) / elapsed, 1),
        "p50_ms": round(pct(ms, 50), 1),
        "p95_ms": round(pct(ms, 95), 1),
        "p99_ms": round(pct(ms, 99), 1),
        "max_ms": round(max(ms), 1) if ms else None,
        "mean_ms": round(statistics.fmean(ms), 1) if ms else None,
    }


async def closed_loop(base: str, concurrency: int, duration: float, warmup: float) -> dict:
    import aiohttp

    lat: list[float] = []
    errors = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as http:
        t_end_warm = time.perf_counter() + warmup
        t_end = t_end_warm + duration

        async def worker(w: int) -> None:
            nonlocal errors
            i = w
            while True:
                t0 = time.perf_counter()
                if t0 >= t_end:
                    return
                async with http.post(base + "/calls", json=one_lead(i)) as r:
                    body = await r.json()
                    ok = r.status == 200 and body["dispatched"] == 1
                t1 = time.perf_counter()
                if t0 >= t_end_warm:
                    lat.append(t1 - t0)
                    errors += 0 if ok else 1
                i += concurrency

        await asyncio.gather(*(worker(w) for w in range(concurrency)))
    return summary(f"throughput (closed loop, {concurrency} clients)", lat, errors, duration)


async def open_loop(base: str, rate: float, duration: float, warmup: float) -> dict:
    import aiohttp

    lat: list[float] = []
    errors = 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256)) as http:

        async def fire(i: int, scheduled: float, record: bool) -> None:
            nonlocal errors
            try:
                async with http.post(base + "/calls", json=one_lead(i)) as r:
                    body = await r.json()
                    ok = r.status == 200 and body["dispatched"] == 1
            except (aiohttp.ClientError, TimeoutError, ValueError):
                ok = False
            if record:
                lat.append(time.perf_counter() - scheduled)
                errors += 0 if ok else 1

        tasks = []
        start = time.perf_counter()
        total = int((warmup + duration) * rate)
        for i in range(total):
            scheduled = start + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(fire(i, scheduled, i >= warmup * rate)))
        await asyncio.gather(*tasks)
    return summary(f"latency (open loop at {rate:g} batches/s)", lat, errors, duration)


async def llm_batches(base: str, site: str, runs: int) -> dict:
    import aiohttp

    body = {
        **one_lead(0),
        "website_url": site + "/",
        "leads": [{"phone": p, "name": f"Lead {i}"} for i, p in enumerate(PHONES)],
    }
    times: list[float] = []
    sources: set[str] = set()
    async with aiohttp.ClientSession() as http:
        async with http.post(base + "/calls", json=body) as r:  # warm-up, not counted
            assert r.status == 200
        async with http.get(site + "/_count") as r:
            before = await r.json()
        for _ in range(runs):
            t0 = time.perf_counter()
            async with http.post(base + "/calls", json=body) as r:
                out = await r.json()
            times.append(time.perf_counter() - t0)
            assert r.status == 200 and out["dispatched"] == 5, out
            ctx_id = out["calls"][0]["context_id"]
            async with http.get(f"{base}/contexts/{ctx_id}") as r:
                sources.add((await r.json())["source"])
        async with http.get(site + "/_count") as r:
            after = await r.json()
    ms = [t * 1000 for t in times]
    return {
        "scenario": "5-lead batch, LLM briefs",
        "runs": runs,
        "min_ms": round(min(ms), 1),
        "median_ms": round(statistics.median(ms), 1),
        "max_ms": round(max(ms), 1),
        "site_fetches": after["site_hits"] - before["site_hits"],
        "llm_requests": after["llm_requests"] - before["llm_requests"],
        "brief_sources": sorted(sources),
    }


def reset_postgres(url: str) -> None:
    """Start from an empty schema (the bench database only; created if missing)."""
    import pgdb

    asyncio.run(pgdb.fresh_schema(url))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--peers", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--db", default=None, help="database URL (default: a fresh SQLite file)")
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--warmup", type=float, default=2.0)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--rate", type=float, default=200.0)
    ap.add_argument(
        "--workers", type=int, default=1, help="nova serve --workers (N > 1: PostgreSQL + Redis)"
    )
    ap.add_argument("--llm-delay", type=float, default=0.8)
    ap.add_argument("--llm-runs", type=int, default=5)
    ap.add_argument("--only", choices=["throughput", "latency", "llm"], action="append")
    args = ap.parse_args()
    if args.peers:
        asyncio.run(run_peers(args.llm_delay))
        return

    from nova.core.migrate import upgrade

    tmp = tempfile.mkdtemp(prefix="nova-bench-")
    db_url = args.db or f"sqlite+aiosqlite:///{tmp}/bench.db"
    if args.db and args.db.startswith("postgresql"):
        reset_postgres(args.db)
    upgrade(db_url)
    only = set(args.only or ["throughput", "latency", "llm"])
    machine_before = machine.snapshot()
    results = []
    peers_proc, peers = start_peers(args.llm_delay)
    try:
        if only & {"throughput", "latency"}:
            app_proc, base = start_app(db_url, peers, llm=False, workers=args.workers)
            try:
                if "throughput" in only:
                    cpu0 = cpu_by_owner(app_proc.pid, peers_proc.pid)
                    res = asyncio.run(
                        closed_loop(base, args.concurrency, args.duration, args.warmup)
                    )
                    cpu1 = cpu_by_owner(app_proc.pid, peers_proc.pid)
                    # CPU spent per batch (warm-up batches included in both), by process.
                    batches = res["requests"] * (1 + args.warmup / args.duration)
                    res["server_cpu_ms_per_batch"] = round(
                        (cpu1["server"] - cpu0["server"]) * 1000 / batches, 2
                    )
                    res["cpu_ms_per_batch_by_process"] = {
                        k: round((cpu1[k] - cpu0[k]) * 1000 / batches, 2) for k in cpu0
                    }
                    results.append(res)
                    print(json.dumps(results[-1]), flush=True)
                if "latency" in only:
                    results.append(
                        asyncio.run(open_loop(base, args.rate, args.duration, args.warmup))
                    )
                    print(json.dumps(results[-1]), flush=True)
            finally:
                stop(app_proc)
        if "llm" in only:
            app_proc, base = start_app(db_url, peers, llm=True)
            try:
                results.append(asyncio.run(llm_batches(base, peers["site"], args.llm_runs)))
                print(json.dumps(results[-1], ensure_ascii=False), flush=True)
            finally:
                stop(app_proc)
    finally:
        peers_proc.kill()
        peers_proc.wait()
    print(
        json.dumps(
            {
                "db": db_url.split("://")[0],
                "workers": args.workers,
                "machine_before": machine_before,
                "machine_after": machine.snapshot(),
                "results": results,
            },
            indent=2,
            ensure_ascii=False,
        )
    )


if __name__ == "__main__":
    main()
