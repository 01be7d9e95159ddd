"""Portal lead benchmark: acknowledgement latency of the signed receiver, and the time from
receipt to the LiveKit dispatch request made by the background runner.

Three processes: the app (`python -m nova serve`, background runner on), the network peers
(LiveKit Twirp fake recording when each dispatch arrives, an OpenAI-compatible fake whose
completions take ``--llm-delay`` seconds), and this load generator (open loop: each request
is timed from its scheduled send time, so a stalled server cannot hide its queue).

    python bench/portals_bench.py                          # SQLite, both scenarios
    python bench/portals_bench.py --db postgresql+asyncpg://postgres@127.0.0.1:5432/nova_bench

Scenarios:
  ack       --rate signed Property Finder leads/s for --seconds: p50/p95/p99 acknowledgement
  dispatch  --dispatch-rate leads/s: receipt → CreateDispatch p50/p95, template briefs
  llm       the same with an LLM that takes --llm-delay per brief
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import machine  # noqa: E402


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


# --- peers process ----------------------------------------------------------------------------


async def run_peers(llm_delay: float, port_file: str) -> None:
    from aiohttp import web

    from tests.calls.conftest import brief_json
    from tests.fakes.livekit import FakeLiveKit
    from tests.fakes.openai_server import FakeOpenAI

    lk = await FakeLiveKit().start()
    arrivals: dict[str, float] = {}

    def on_dispatch(req) -> None:
        meta = json.loads(req.metadata)
        arrivals[meta["lead"]["phone"]] = time.time()

    lk.hooks[("AgentDispatchService", "CreateDispatch")] = on_dispatch
    llm = await FakeOpenAI(chat=lambda body: brief_json(), delay=llm_delay).start()

    async def dispatches(_: web.Request) -> web.Response:
        return web.json_response(arrivals)

    app = web.Application()
    app.router.add_get("/_dispatches", dispatches)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    ctl = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    Path(port_file).write_text(
        json.dumps({"livekit": lk.url, "llm": llm.base_url, "ctl": ctl, "pid": os.getpid()})
    )
    await asyncio.Event().wait()


# --- app process --------------------------------------------------------------------------------


def start_app(
    db: str, peers: dict, use_llm: bool, port: int, runner: bool = True, workers: int = 1
) -> subprocess.Popen:
    env = {
        **os.environ,
        "NOVA_ENV": "development",
        "NOVA_DATABASE_URL": db,
        "NOVA_LOG_LEVEL": "WARNING",
        "NOVA_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "NOVA_PUMP_INTERVAL_SECONDS": "0.05",
        "LIVEKIT_URL": peers["livekit"],
        "LIVEKIT_API_KEY": "devkey",
        "LIVEKIT_API_SECRET": "devsecret-devsecret-devsecret-devsecret",
        "PYTHONPATH": str(ROOT),
        "NOVA_BACKGROUND_RUNNER": "true" if runner else "false",
    }
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        env.pop(var, None)
    if use_llm:
        env["OPENAI_BASE_URL"] = peers["llm"]
        env["OPENAI_API_KEY"] = "sk-bench"
    if workers > 1:  # `nova serve --workers N` needs shared rate limits
        env.setdefault("NOVA_REDIS_URL", "redis://127.0.0.1:6379/0")
    args = [sys.executable, "-m", "nova", "serve", "--port", str(port), "--migrate"]
    args += ["--workers", str(workers)]
    return subprocess.Popen(args, env=env, cwd=ROOT)


async def wait_up(base: str) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as s:
        for _ in range(300):
            try:
                async with s.get(f"{base}/health") as r:
                    if r.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("app did not start")


# The Property Finder integration every portal bench (and calls_profile --target portal) uses.
INTEGRATION = {
    "portal": "property_finder",
    "product": "Marina Heights",
    "goal": "qualify_interest",
    "owner_email": "agent@example.com",
}


async def setup_account(base: str, db: str) -> tuple[str, str]:
    """A user on an unlimited plan and its Property Finder integration: (id, secret)."""
    import aiohttp
    from sqlalchemy import text
    from sqlalchemy.ext.asyncio import create_async_engine

    async with aiohttp.ClientSession() as s:
        email = f"bench-{time.time_ns()}@example.com"
        async with s.post(
            f"{base}/auth/register", json={"email": email, "password": "benchmark"}
        ) as r:
            body = await r.json()
        headers = {"Authorization": f"Bearer {body['access_token']}"}
        async with s.post(
            f"{base}/portals/integrations",
            json=INTEGRATION,
            headers=headers,
        ) as r:
            integ = await r.json()
    engine = create_async_engine(db)
    async with engine.begin() as conn:  # a paid plan with overage: never a 402 in the bench
        await conn.execute(
            text(
                "UPDATE billing_accounts SET plan='scale', status='active', "
                "seconds_included=100000000 WHERE user_id=:u"
            ),
            {"u": body["user"]["id"]},
        )
    await engine.dispose()
    return integ["id"], integ["secret"]


TIMELINE: list | None = None


def lead_body(n: int, phone: str) -> bytes:
    return json.dumps(
        {
            "id": f"evt_{time.time_ns()}_{n}",
            "type": "lead.created",
            "created_at": "2026-06-12T08:29:58Z",
            "payload": {
                "lead_id": f"L{n}",
                "listing": {
                    "reference": "PF-DXB-44871",
                    "title": "2BR, Dubai Marina",
                    "price": 2450000,
                },
                "contact": {"name": "Omar", "phone": phone, "email": "omar@example.com"},
                "message": "Is it still available?",
            },
        }
    ).encode()


async def open_loop(
    base: str,
    integ: str,
    secret: str,
    rate: float,
    seconds: float,
    offset: int,
    warmup: float = 0.0,
):
    """Send rate/s signed leads for ``warmup`` + ``seconds``; returns (ack latencies ms,
    {phone: sent_at}, errors) of the requests after the warm-up (same rate, same client
    connections: the measurement starts in the steady state, connection pools grown)."""
    import aiohttp

    url = f"{base}/webhooks/property-finder/{integ}"
    skip = int(rate * warmup)
    total = skip + int(rate * seconds)
    latencies: list[float] = []
    sent: dict[str, float] = {}
    errors = 0
    conn = aiohttp.TCPConnector(limit=256)
    async with aiohttp.ClientSession(connector=conn) as s:
        start = time.perf_counter()
        wall0 = time.time()

        async def one(i: int, due: float) -> None:
            nonlocal errors
            phone = f"+97150{offset + i:07d}"
            body = lead_body(i, phone)
            sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            if i >= skip:
                sent[phone] = wall0 + (due - start)
            try:
                async with s.post(
                    url,
                    data=body,
                    headers={"X-PropertyFinder-Signature": sig, "Content-Type": "application/json"},
                ) as r:
                    await r.read()
                    if r.status != 200 and i >= skip:
                        errors += 1
            except aiohttp.ClientError:
                errors += 1 if i >= skip else 0
            if i < skip:
                return
            latencies.append((time.perf_counter() - due) * 1000)
            if TIMELINE is not None:
                TIMELINE.append((due - start, latencies[-1]))

        # Each request is started at its due time (not all created up front: 2000 sleeping
        # tasks made the generator itself late at the start of a run).
        tasks = []
        for i in range(total):
            due = start + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i, due)))
        await asyncio.gather(*tasks)
    return latencies, sent, errors


async def dispatch_latencies(ctl: int, sent: dict[str, float], wait: float) -> list[float]:
    import aiohttp

    deadline = time.time() + wait
    async with aiohttp.ClientSession() as s:
        while True:
            async with s.get(f"http://127.0.0.1:{ctl}/_dispatches") as r:
                arrivals = await r.json()
            done = [p for p in sent if p in arrivals]
            if len(done) == len(sent) or time.time() > deadline:
                break
            await asyncio.sleep(0.25)
    missing = len(sent) - len(done)
    if missing:
        print(f"  WARNING: {missing} lead(s) not dispatched within {wait:.0f}s")
    return [(arrivals[p] - sent[p]) * 1000 for p in done]


async def scenario(args, db: str, peers: dict, name: str, use_llm: bool) -> None:
    if db.startswith("postgresql"):
        from calls_bench import reset_postgres

        # An empty schema for every scenario: no backlog of leads left by an earlier one.
        await asyncio.to_thread(reset_postgres, db)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = start_app(
        db, peers, use_llm, port, runner=not (name == "ack" and args.ack_only), workers=args.workers
    )
    try:
        await wait_up(base)
        integ, secret = await setup_account(base, db)
        await open_loop(base, integ, secret, 20, 1, offset=9_000_000)  # first requests
        if name == "ack":
            from calls_bench import cpu_by_owner

            cpu0 = cpu_by_owner(app.pid, peers["pid"])
            lat, _, errors = await open_loop(
                base, integ, secret, args.rate, args.seconds, 0, warmup=args.warmup
            )
            cpu1 = cpu_by_owner(app.pid, peers["pid"])
            sent_n = len(lat) * (1 + args.warmup / args.seconds)  # warm-up requests cost too
            per = {k: round((cpu1[k] - cpu0[k]) * 1000 / sent_n, 2) for k in cpu0}
            print(
                f"ack @ {args.rate:g}/s for {args.seconds:g}s, {args.workers} worker(s): "
                f"n={len(lat)} errors={errors} p50={pct(lat, 50):.1f}ms "
                f"p95={pct(lat, 95):.1f}ms p99={pct(lat, 99):.1f}ms; "
                f"CPU ms per request by process {per}"
            )
        else:
            offset = 1_000_000 if use_llm else 2_000_000
            lat, sent, errors = await open_loop(
                base, integ, secret, args.dispatch_rate, args.seconds, offset
            )
            d = await dispatch_latencies(peers["ctl"], sent, wait=60)
            label = f"LLM {args.llm_delay:g}s" if use_llm else "template briefs"
            print(
                f"receipt→dispatch ({label}) @ {args.dispatch_rate:g}/s: n={len(d)} errors={errors} "
                f"p50={pct(d, 50):.0f}ms p95={pct(d, 95):.0f}ms max={max(d, default=float('nan')):.0f}ms"
            )
    finally:
        app.send_signal(signal.SIGTERM)
        try:
            app.wait(15)
        except subprocess.TimeoutExpired:
            app.kill()


async def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--db", default=None, help="database URL (default: a temp SQLite file)")
    p.add_argument("--rate", type=float, default=200)
    p.add_argument(
        "--workers", type=int, default=1, help="nova serve --workers (N > 1: PG + Redis)"
    )
    p.add_argument("--dispatch-rate", type=float, default=20)
    p.add_argument("--seconds", type=float, default=10)
    p.add_argument(
        "--warmup", type=float, default=3, help="ack: seconds at --rate before measuring"
    )
    p.add_argument("--llm-delay", type=float, default=1.0)
    p.add_argument("--only", action="append", choices=["ack", "dispatch", "llm"])
    p.add_argument(
        "--ack-only",
        action="store_true",
        help="ack scenario without the background runner (receiver cost alone)",
    )
    args = p.parse_args()
    tmp = tempfile.mkdtemp(prefix="nova-portals-bench-")
    port_file = os.path.join(tmp, "peers.json")
    peers_proc = subprocess.Popen(
        [sys.executable, __file__, "--peers", str(args.llm_delay), port_file], cwd=ROOT
    )
    try:
        for _ in range(200):
            if os.path.exists(port_file):
                break
            await asyncio.sleep(0.05)
        peers = json.loads(Path(port_file).read_text())
        print(f"machine before: {machine.snapshot()}")
        for name in args.only or ["ack", "dispatch", "llm"]:
            db = args.db or f"sqlite+aiosqlite:///{tmp}/{name}.db"
            await scenario(args, db, peers, name, use_llm=(name == "llm"))
        print(f"machine after: {machine.snapshot()}")
    finally:
        peers_proc.terminate()


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--peers":
        asyncio.run(run_peers(float(sys.argv[2]), sys.argv[3]))
    else:
        asyncio.run(main())
