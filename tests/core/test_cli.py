"""The `nova` command, run as a real process (`python -m nova`) on a fresh SQLite file."""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

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
