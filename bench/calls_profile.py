"""Profile POST /calls (one lead, template briefs) in-process, without an HTTP server.

The app is driven directly through its ASGI interface (so uvicorn's HTTP parsing is not
included), one request at a time, with the peers (LiveKit Twirp fake) in another process
started by ``calls_bench``. Prints the CPU time per request of this process, and with
``--profiler`` a cProfile or pyinstrument report.

    /work/.venv/bin/python bench/calls_profile.py -n 2000
    /work/.venv/bin/python bench/calls_profile.py -n 500 --profiler pyinstrument
    /work/.venv/bin/python bench/calls_profile.py --db postgresql+asyncpg://.../nova_perf
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import calls_bench  # noqa: E402


async def drive(
    app, n: int, body: bytes | Callable[[int], tuple[bytes, list]], path: str = "/calls"
) -> tuple[int, dict[int, int]]:
    """POST ``body`` (or ``body(i)`` -> (bytes, extra headers)) to ``path`` n times."""
    statuses: dict[int, int] = {}
    make = body if callable(body) else (lambda i, b=body: (b, []))
    for i in range(n):
        payload, extra = make(i)
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "root_path": "",
            "query_string": b"",
            "headers": [
                (b"host", b"127.0.0.1"),
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                *extra,
            ],
            "client": ("127.0.0.1", 5555),
            "server": ("127.0.0.1", 8000),
            "state": {},
        }
        sent = False

        async def receive(payload=payload):
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": payload, "more_body": False}
            await asyncio.sleep(3600)
            return {"type": "http.disconnect"}

        out = {}

        async def send(message, out=out):
            if message["type"] == "http.response.start":
                out["status"] = message["status"]

        await app(scope, receive, send)
        statuses[out["status"]] = statuses.get(out["status"], 0) + 1
    return n, statuses


async def main_async(args: argparse.Namespace) -> None:
    from nova.api.app import create_app
    from nova.core.settings import get_settings

    get_settings.cache_clear()
    app = create_app()
    body: bytes | Callable[[int], tuple[bytes, list]] = json.dumps(calls_bench.one_lead(0)).encode()
    path = "/calls"
    async with app.router.lifespan_context(app):
        if args.target == "portal":
            path, body = await portal_target(app)
        await drive(app, args.warmup, body, path)
        prof = None
        if args.profiler == "cprofile":
            import cProfile

            prof = cProfile.Profile()
            prof.enable()
        elif args.profiler == "pyinstrument":
            from pyinstrument import Profiler

            prof = Profiler(interval=0.0002, async_mode="disabled")
            prof.start()
        c0, t0 = time.process_time(), time.perf_counter()
        n, statuses = await drive(app, args.n, body, path)
        cpu, wall = time.process_time() - c0, time.perf_counter() - t0
        if args.profiler == "cprofile":
            import pstats

            prof.disable()
            st = pstats.Stats(prof)
            st.sort_stats(args.sort).print_stats(args.top)
        elif args.profiler == "pyinstrument":
            prof.stop()
            print(
                prof.output_text(
                    unicode=True, color=False, show_all=bool(os.environ.get("PROFILE_ALL"))
                )
            )
        print(
            json.dumps(
                {
                    "requests": n,
                    "statuses": statuses,
                    "cpu_ms_per_request": round(cpu * 1000 / n, 3),
                    "wall_ms_per_request": round(wall * 1000 / n, 3),
                    "profiler": args.profiler,
                }
            )
        )


async def portal_target(app) -> tuple[str, Callable[[int], tuple[bytes, list]]]:
    """A user with a Property Finder integration; returns the receiver path and a maker of
    signed, unique lead deliveries."""
    import httpx

    sys.path.insert(0, str(ROOT / "bench"))
    from portals_bench import INTEGRATION, lead_body

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
        r = await c.post(
            "/auth/register", json={"email": "prof@example.com", "password": "benchmark"}
        )
        headers = {"Authorization": f"Bearer {r.json()['access_token']}"}
        r = await c.post(
            "/portals/integrations",
            json=INTEGRATION,
            headers=headers,
        )
        integ = r.json()
    secret = integ["secret"].encode()

    def make(i: int) -> tuple[bytes, list]:
        body = lead_body(i, f"+97150{i:07d}")
        sig = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
        return body, [(b"x-propertyfinder-signature", sig.encode())]

    return f"/webhooks/property-finder/{integ['id']}", make


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--db", default=None)
    ap.add_argument("-n", type=int, default=1000)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--profiler", choices=["cprofile", "pyinstrument", "none"], default="none")
    ap.add_argument("--sort", default="cumulative")
    ap.add_argument("--top", type=int, default=60)
    ap.add_argument("--runner", action="store_true", help="background runner on")
    ap.add_argument("--target", choices=["calls", "portal"], default="calls")
    args = ap.parse_args()

    from nova.core.migrate import upgrade

    tmp = tempfile.mkdtemp(prefix="nova-prof-")
    db_url = args.db or f"sqlite+aiosqlite:///{tmp}/prof.db"
    if db_url.startswith("postgresql"):
        calls_bench.reset_postgres(db_url)
    upgrade(db_url)
    peers_proc, peers = calls_bench.start_peers(0.0)
    try:
        from tests.fakes.livekit import API_KEY, API_SECRET

        os.environ.update(
            {
                "NOVA_ENV": "development",
                "NOVA_DATABASE_URL": db_url,
                "NOVA_LOG_LEVEL": "WARNING",
                "NOVA_CALLS_RATE_LIMIT": "100000000",
                "NOVA_BACKGROUND_RUNNER": "true" if args.runner else "false",
                "LIVEKIT_URL": peers["livekit"],
                "LIVEKIT_API_KEY": API_KEY,
                "LIVEKIT_API_SECRET": API_SECRET,
            }
        )
        os.environ.pop("OPENAI_API_KEY", None)
        os.environ.pop("OPENAI_BASE_URL", None)
        import logging

        logging.getLogger().setLevel(logging.WARNING)
        asyncio.run(main_async(args))
    finally:
        peers_proc.kill()
        peers_proc.wait()


if __name__ == "__main__":
    main()
