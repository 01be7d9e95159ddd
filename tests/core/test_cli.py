"""The `nova` command, run as a real process (`python -m nova`) on a fresh SQLite file (and,
for `serve --workers`, a scratch PostgreSQL database with Redis)."""

from __future__ import annotations

import asyncio
import http.client
import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil
import pytest

from tests.conftest import REDIS_URL

ROOT = Path(__file__).resolve().parents[2]


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("NOVA_", "LIVEKIT_", "OPENAI_", "STRIPE_", "TWILIO_"))
    }
    env.update(
        {
            "PYTHONPATH": str(ROOT),
            "NOVA_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}",
            "NOVA_LOG_LEVEL": "WARNING",
        }
    )
    env.update(extra)
    return env


def nova(tmp_path: Path, *args: str, timeout: float = 60, **env: str):
    return subprocess.run(
        [sys.executable, "-m", "nova", *args],
        cwd=tmp_path,  # no stray .env from the checkout
        env=_env(tmp_path, **env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def _tables(db: Path) -> set[str]:
    with sqlite3.connect(db) as conn:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}


def test_migrate_user_create_and_flags(tmp_path):
    r = nova(tmp_path, "migrate")
    assert r.returncode == 0, r.stderr
    assert "database at revision heads" in r.stdout
    assert {"users", "events", "tasks", "alembic_version"} <= _tables(tmp_path / "cli.db")

    r = nova(
        tmp_path, "user", "create", " Admin@Example.com ", "--password", "s3cret-pw", "--admin"
    )
    assert r.returncode == 0, r.stderr
    created = json.loads(r.stdout)
    assert created["email"] == "admin@example.com"
    with sqlite3.connect(tmp_path / "cli.db") as conn:
        row = conn.execute("SELECT id, is_admin, password_hash FROM users").fetchone()
        accounts = conn.execute("SELECT plan FROM billing_accounts").fetchall()
    assert row[0] == created["id"] and row[1] == 1
    assert row[2].startswith("$argon2id$") and "s3cret-pw" not in row[2]
    assert accounts == [("trial",)]

    r = nova(tmp_path, "user", "create", "admin@example.com", "--password", "another-pw")
    assert r.returncode == 1
    assert "Email already registered" in r.stderr
    r = nova(tmp_path, "user", "create", "x@example.com", "--password", "123")
    assert r.returncode == 2
    assert "at least 6" in r.stderr and "Traceback" not in r.stderr

    r = nova(
        tmp_path,
        "user",
        "flags",
        "ADMIN@example.com",
        "--set",
        "voice_cloning=on",
        "--set",
        "byo_twilio=off",
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == {"voice_cloning": True, "byo_twilio": False}
    with sqlite3.connect(tmp_path / "cli.db") as conn:
        stored = json.loads(conn.execute("SELECT features FROM users").fetchone()[0])
    assert stored == {"voice_cloning": True, "byo_twilio": False}
    r = nova(tmp_path, "user", "flags", "admin@example.com", "--set", "teleport=on")
    assert r.returncode == 2 and "voice_cloning" in r.stderr


def test_serve_refuses_placeholder_secret_outside_development(tmp_path):
    r = nova(tmp_path, "serve", NOVA_ENV="production", NOVA_JWT_SECRET="change-me")
    assert r.returncode == 2
    assert "invalid configuration" in r.stderr
    assert "NOVA_JWT_SECRET" in r.stderr
    assert not (tmp_path / "cli.db").exists()  # refused before touching anything


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_on_fresh_sqlite_migrates_and_answers(tmp_path):
    """The README's promise: `nova serve` on a fresh machine registers, logs in, answers /me."""
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "nova", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=_env(tmp_path, NOVA_LOG_LEVEL="INFO"),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"nova serve exited: {proc.stdout.read().decode()[-2000:]}")
            try:
                r = httpx.get(f"{base}/health", timeout=1)
                if r.status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("nova serve did not answer /health within 60 s")
            time.sleep(0.1)
        assert r.json()["status"] == "ok" and r.headers["x-request-id"]
        assert "users" in _tables(tmp_path / "cli.db")

        reg = httpx.post(
            f"{base}/auth/register",
            json={"email": "first@example.com", "password": "first-password"},
        )
        assert reg.status_code == 201, reg.text
        login = httpx.post(
            f"{base}/auth/login",
            json={"email": "first@example.com", "password": "first-password"},
        )
        assert login.status_code == 200
        me = httpx.get(
            f"{base}/auth/me",
            headers={"Authorization": f"Bearer {login.json()['access_token']}"},
        )
        assert me.status_code == 200 and me.json()["email"] == "first@example.com"
        # NOVA_PUBLIC_URL is unset: links point at the port this server was given.
        code = httpx.get(
            f"{base}/referrals/code",
            headers={"Authorization": f"Bearer {login.json()['access_token']}"},
        )
        assert code.status_code == 200 and code.json()["share_url"].startswith(base + "/"), (
            code.text
        )
        assert httpx.get(f"{base}/health/deep").json()["checks"]["livekit"]["status"] == (
            "not_configured"
        )
    finally:
        proc.terminate()
        try:
            out = proc.communicate(timeout=20)[0].decode()
        except subprocess.TimeoutExpired:
            proc.kill()
            out = proc.communicate()[0].decode()
    # uvicorn shuts down gracefully on SIGTERM, then re-raises the signal.
    assert proc.returncode in (0, -15), out[-2000:]
    assert "Application shutdown complete" in out
    assert "first-password" not in out  # the server's own log stays clean
    assert "GET /health 200" in out


# The server this test makes its scratch database on: the PostgreSQL run's, else the
# machine's (README: the tests need PostgreSQL and Redis running locally).
PG_SERVER = os.environ.get("NOVA_TEST_DATABASE_URL") or os.environ.get(
    "NOVA_TEST_PG_SERVER", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)


@pytest.mark.parametrize("how", ["flag", "env"])
def test_serve_workers_refuses_sqlite(tmp_path, how):
    args = ["serve", "--workers", "2"] if how == "flag" else ["serve"]
    extra = {"NOVA_WORKERS": "2"} if how == "env" else {}
    r = nova(tmp_path, *args, NOVA_REDIS_URL=REDIS_URL, **extra)
    assert r.returncode == 2
    assert "needs PostgreSQL" in r.stderr and "SQLite allows one writer" in r.stderr
    assert "NOVA_REDIS_URL" not in r.stderr  # Redis is configured: only the database is wrong
    assert "Traceback" not in r.stderr
    assert not (tmp_path / "cli.db").exists()  # refused before migrating anything


def test_serve_workers_needs_redis(tmp_path):
    pg = "postgresql+asyncpg://nobody@127.0.0.1:1/never-contacted"
    r = nova(tmp_path, "serve", "--workers", "3", NOVA_DATABASE_URL=pg)
    assert r.returncode == 2
    assert "--workers 3 needs NOVA_REDIS_URL so that rate limits are shared" in r.stderr
    assert "PostgreSQL" not in r.stderr and "Traceback" not in r.stderr
    # Both problems at once on SQLite without Redis; and N must be positive.
    r = nova(tmp_path, "serve", "--workers", "2")
    assert r.returncode == 2 and "needs PostgreSQL" in r.stderr and "NOVA_REDIS_URL" in r.stderr
    r = nova(tmp_path, "serve", "--workers", "0")
    assert r.returncode == 2 and "at least 1" in r.stderr


def _in_thread(coro):
    """Run a coroutine on its own loop in another thread (the test loop stays untouched)."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _scratch_database(server_url: str, name: str, create: bool) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    url = make_url(server_url)
    conn = await asyncpg.connect(
        user=url.username,
        password=url.password,
        host=url.host or "127.0.0.1",
        port=url.port or 5432,
        database=url.database,
    )
    try:
        if create:
            await conn.execute(f'CREATE DATABASE "{name}"')
        else:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def _answering_worker(workers: list[psutil.Process], server_port: int, client_port: int) -> int:
    """The pid of the worker process holding the server side of our connection."""
    for worker in workers:
        for c in worker.net_connections(kind="tcp"):
            if c.laddr and c.laddr.port == server_port and c.raddr and c.raddr.port == client_port:
                return worker.pid
    raise AssertionError(f"no worker holds the connection from port {client_port}")


def test_serve_two_workers_share_the_database_and_the_rate_limit(tmp_path):
    """`nova serve --workers 2` on PostgreSQL + Redis: migrates once, two worker processes
    answer, the per-IP limit is one budget across them, SIGTERM stops everything cleanly."""
    from sqlalchemy.engine import make_url

    scratch = f"nova_workers_{uuid.uuid4().hex[:12]}"
    _in_thread(_scratch_database(PG_SERVER, scratch, create=True))
    db_url = make_url(PG_SERVER).set(database=scratch).render_as_string(hide_password=False)
    port = _free_port()
    log = tmp_path / "serve.log"
    # A client IP of this run only (via a trusted proxy), so no other run shares its budget.
    ip = f"2001:db8::{uuid.uuid4().hex[:4]}:{uuid.uuid4().hex[:4]}"
    env = _env(
        tmp_path,
        NOVA_DATABASE_URL=db_url,
        NOVA_REDIS_URL=REDIS_URL,
        NOVA_LOG_LEVEL="INFO",
        NOVA_TRUSTED_PROXIES='["127.0.0.1/32"]',
    )
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "nova", "serve", "--workers", "2", "--migrate"],
            cwd=tmp_path,
            env={**env, "NOVA_PORT": str(port)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = (
            time.monotonic() + 90
        )  # typically ~5 s on a quiet 2-core machine; ~30 s seen under heavy load
        parent = psutil.Process(proc.pid)
        workers: list[psutil.Process] = []
        while len(workers) < 2 or not _healthy(port):
            if proc.poll() is not None:
                pytest.fail(f"nova serve exited: {log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(f"two workers did not answer in 90 s: {log.read_text()[-3000:]}")
            workers = _listening_children(parent, port)
            time.sleep(0.2)
        assert len(workers) == 2

        answered: list[tuple[int, int]] = []  # (worker pid, status)

        def request(method: str, path: str, **kw) -> http.client.HTTPResponse:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request(method, path, **kw)
            resp = conn.getresponse()
            resp.body = resp.read()
            pid = _answering_worker(workers, port, conn.sock.getsockname()[1])
            conn.close()
            answered.append((pid, resp.status))
            return resp

        for _ in range(20):
            assert request("GET", "/health").status == 200
        deep = json.loads(request("GET", "/health/deep").body)
        assert deep["checks"]["redis"]["status"] == "ok"
        assert deep["checks"]["database"]["status"] == "ok"

        # POST /calls (an invalid batch: 400, but it counts) until both workers have refused
        # one: with per-process limits each worker would allow 5 on its own.
        calls: list[tuple[int, int, str | None]] = []
        body = json.dumps({"consent": False})
        deadline = time.monotonic() + 10
        while {pid for pid, status, _ in calls if status == 429} != {w.pid for w in workers}:
            if len(calls) > 60 or time.monotonic() > deadline:
                pytest.fail(f"both workers did not refuse a submission: {calls}")
            r = request(
                "POST",
                "/calls",
                body=body,
                headers={"Content-Type": "application/json", "X-Forwarded-For": ip},
            )
            calls.append((answered[-1][0], r.status, r.getheader("retry-after")))
        assert [status for _, status, _ in calls[:5]] == [400] * 5
        assert all(status == 429 and retry for _, status, retry in calls[5:])
        assert len({pid for pid, _ in answered}) == 2, answered
        # /metrics counts what both workers served, whichever answers the scrape.
        for _ in range(4):
            text = request("GET", "/metrics").body.decode()
            post = 'nova_http_requests_total{method="POST",route="/calls",status="%d"} '
            assert post % 400 + "5.0" in text
            assert post % 429 + f"{float(len(calls) - 5)}" in text
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        _in_thread(_scratch_database(PG_SERVER, scratch, create=False))
        _in_thread(_forget_limit(ip))
    output = log.read_text()
    assert proc.returncode == 0, output[-3000:]
    assert output.count("Running upgrade  -> 0001") == 1  # migrated once, by the parent
    assert output.count("Application startup complete") == 2
    assert output.count("Application shutdown complete") == 2, output[-3000:]
    assert "Stopping parent process" in output and "Traceback" not in output
    assert not [c for c in workers if c.is_running() and c.status() != psutil.STATUS_ZOMBIE]


def _listening_children(parent: psutil.Process, port: int) -> list[psutil.Process]:
    """The parent's children that listen on ``port``: uvicorn's workers."""
    found = []
    for child in parent.children():
        try:
            conns = child.net_connections(kind="tcp")
        except psutil.NoSuchProcess:
            continue
        if any(c.status == psutil.CONN_LISTEN and c.laddr.port == port for c in conns):
            found.append(child)
    return found


def _healthy(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
    except httpx.TransportError:
        return False


async def _forget_limit(ip: str) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(REDIS_URL)
    await client.delete(f"nova:rl:calls:{ip}")
    await client.aclose()


def test_public_url_is_where_serve_listens():
    from nova.cli import local_url

    assert local_url("127.0.0.1", 9000) == "http://127.0.0.1:9000"
    assert local_url("0.0.0.0", 9000) == "http://127.0.0.1:9000"  # noqa: S104
    assert local_url("::", 8001) == "http://[::1]:8001"
    assert local_url("fd00::5", 8001) == "http://[fd00::5]:8001"
    assert local_url("nova.internal", 80) == "http://nova.internal:80"
