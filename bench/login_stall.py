"""Does a storm of bad logins stall the server? ``/health`` latency while clients hammer
``POST /auth/login`` with wrong passwords (issue 19, finding 1).

    PYTHONPATH=. .venv/bin/python bench/login_stall.py [--seconds 20] [--clients 30]
        [--code DIR]   # run another checkout's code (e.g. an export of main) instead

``nova serve`` runs in its own process on a fresh SQLite file (real uvicorn, real HTTP on
loopback). A probe GETs ``/health`` every 50 ms and records each latency. Three scenarios,
each measured in the same run so the ratio can be read on another machine:

* ``reference``: nothing else happening (the same-run baseline), and the same clients
  flooding a route that does no work (what any flood of that rate costs on this machine);
* ``storm, throttle off``: the login limits raised out of reach, so every one of the
  clients' attempts runs argon2 (what the hashing pool alone buys);
* ``storm, default throttle``: the shipped limits (after 5 failures per account and client
  the attempts are answered 429 without hashing).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from machine import snapshot  # noqa: E402

UNLIMITED = "100000000/60"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(code: Path, env_extra: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    tmp = Path(tempfile.mkdtemp(prefix="nova-bench-login-"))
    env = {
        **os.environ,
        "PYTHONPATH": str(code),
        "NOVA_ENV": "development",
        "NOVA_DATABASE_URL": f"sqlite+aiosqlite:///{tmp / 'bench.db'}",
        "NOVA_LOG_LEVEL": "WARNING",
        "NOVA_BACKGROUND_RUNNER": "false",
        **env_extra,
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "nova", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=code,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/health").status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.3)
    proc.kill()
    raise SystemExit("nova serve did not start")


def _pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


async def _probe(url: str, seconds: float, statuses: dict[int, int]) -> list[float]:
    out: list[float] = []
    async with httpx.AsyncClient(base_url=url, timeout=60) as c:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            t = time.perf_counter()
            r = await c.get("/health")
            statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
            out.append((time.perf_counter() - t) * 1000)
            await asyncio.sleep(0.05)
    return out


async def _hammer(url: str, stop: asyncio.Event, counts: dict[int, int], login: bool) -> None:
    async with httpx.AsyncClient(base_url=url, timeout=60) as c:
        while not stop.is_set():
            try:
                if login:
                    r = await c.post(
                        "/auth/login",
                        json={"email": "owner@example.com", "password": "not-it-at-all"},
                    )
                else:  # the same flood of requests, to a route that does no work
                    r = await c.get("/billing/plans")
                status = r.status_code
            except httpx.TransportError:
                status = 0  # connection dropped
            counts[status] = counts.get(status, 0) + 1


async def _scenario(url: str, seconds: float, clients: int, login: bool) -> dict:
    stop = asyncio.Event()
    counts: dict[int, int] = {}
    hammers = [asyncio.create_task(_hammer(url, stop, counts, login)) for _ in range(clients)]
    await asyncio.sleep(1.0 if clients else 0)  # let the storm build up
    started = time.monotonic()
    health: dict[int, int] = {}
    samples = await _probe(url, seconds, health)
    elapsed = time.monotonic() - started
    stop.set()
    await asyncio.gather(*hammers)
    return {
        "n": len(samples),
        "p50": statistics.median(samples),
        "p99": _pct(samples, 0.99),
        "max": max(samples),
        "logins_per_s": {k: round(v / (elapsed + 1), 1) for k, v in sorted(counts.items())},
        "health": health,
    }


def run(
    code: Path,
    name: str,
    env_extra: dict[str, str],
    seconds: float,
    clients: int,
    login: bool = True,
) -> dict:
    proc, url = _start(code, env_extra)
    try:
        r = httpx.post(
            f"{url}/auth/register",
            json={"email": "owner@example.com", "password": "the-right-password"},
        )
        assert r.status_code == 201, r.text
        result = asyncio.run(_scenario(url, seconds, clients, login))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    print(
        f"| {name} | {result['n']} | {result['p50']:.1f} ms | {result['p99']:.1f} ms | "
        f"{result['max']:.1f} ms | {result['health']} | {result['logins_per_s']} |",
        flush=True,
    )
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--clients", type=int, default=30)
    ap.add_argument("--code", type=Path, default=Path(__file__).resolve().parent.parent)
    args = ap.parse_args()
    print("machine before:", snapshot(), flush=True)
    print("| scenario | /health probes | p50 | p99 | max | /health statuses | logins/s by status |")
    print("| --- | --- | --- | --- | --- | --- | --- |")
    off = {
        "NOVA_LOGIN_LIMITS_ACCOUNT_CLIENT": UNLIMITED,
        "NOVA_LOGIN_LIMITS_ACCOUNT": UNLIMITED,
        "NOVA_LOGIN_LIMITS_CLIENT": UNLIMITED,
    }
    run(args.code, "reference (no load)", {}, args.seconds, 0)
    run(
        args.code,
        f"reference: {args.clients} clients GET /billing/plans",
        {},
        args.seconds,
        args.clients,
        login=False,
    )
    run(args.code, f"{args.clients} clients, throttle off", off, args.seconds, args.clients)
    run(args.code, f"{args.clients} clients, default throttle", {}, args.seconds, args.clients)
    print("machine after:", snapshot(), flush=True)


if __name__ == "__main__":
    main()
