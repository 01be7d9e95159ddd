"""/health, /health/deep (database + LiveKit probes) and /metrics."""

from __future__ import annotations

import time

from nova.api import health

LIST_ROOMS = ("RoomService", "ListRooms")


async def test_health_shape(client, clock):
    r = await client.get("/health")
    assert r.status_code == 200
    assert r.json() == {
        "status": "ok",
        "timestamp": "2026-06-12T08:30:00Z",
        "active_calls": 0,
        "ttl_seconds": 600,
    }


async def test_deep_livekit_not_configured_is_labelled_and_healthy(client):
    r = await client.get("/health/deep")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["status"] == "ok"
    db = body["checks"]["database"]
    assert db.pop("latency_ms") >= 0
    assert db == {"ok": True, "status": "ok", "detail": "ok", "reason": None}
    lk = body["checks"]["livekit"]
    assert lk.pop("latency_ms") >= 0
    assert lk == {
        "ok": True,
        "status": "not_configured",
        "detail": "not configured",
        "reason": "not configured",
    }


async def test_deep_livekit_configured_calls_list_rooms(client, livekit):
    livekit.rooms.clear()
    r = await client.get("/health/deep")
    assert r.status_code == 200, r.text
    check = r.json()["checks"]["livekit"]
    assert check["ok"] is True and check["status"] == "ok"
    assert len(livekit.calls(*LIST_ROOMS)) == 1  # a real, authenticated Twirp call


async def test_deep_livekit_failure_is_503_with_breakdown(client, livekit):
    livekit.fail(*LIST_ROOMS, status=503, code="unavailable", msg="server overloaded")
    r = await client.get("/health/deep")
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "degraded"
    assert body["checks"]["database"]["ok"] is True
    lk = body["checks"]["livekit"]
    assert lk["ok"] is False and lk["status"] == "failing"
    assert "server overloaded" in lk["detail"]


async def test_deep_livekit_wrong_credentials_fail(client, livekit, settings):
    from pydantic import SecretStr

    settings.livekit_api_secret = SecretStr("not-the-secret-not-the-secret-0000")
    r = await client.get("/health/deep")
    assert r.status_code == 503
    assert r.json()["checks"]["livekit"]["ok"] is False
    assert "not-the-secret" not in r.text


async def test_deep_probe_is_capped(client, livekit, monkeypatch):
    assert health.PROBE_TIMEOUT_SECONDS == 2.0  # the documented cap
    monkeypatch.setattr(health, "PROBE_TIMEOUT_SECONDS", 0.2)
    livekit.delays[LIST_ROOMS] = 2.1
    start = time.monotonic()
    r = await client.get("/health/deep")
    elapsed = time.monotonic() - start
    assert r.status_code == 503
    lk = r.json()["checks"]["livekit"]
    assert lk.pop("latency_ms") >= 0
    assert lk == {
        "ok": False,
        "status": "failing",
        "detail": "timed out after 0.2s",
        "reason": "timed out after 0.2s",
    }
    assert r.json()["checks"]["database"]["ok"] is True
    assert elapsed < 2.0  # capped, not waiting for the slow peer


async def test_deep_database_failure_is_503(client, settings, monkeypatch):
    from sqlalchemy.ext.asyncio import async_sessionmaker

    from nova.core import db

    # A real engine on a database file that cannot be opened.
    broken = db.make_engine(
        settings.model_copy(update={"database_url": "sqlite+aiosqlite:////nonexistent/nova.db"})
    )
    monkeypatch.setattr(db, "_engine", broken)
    monkeypatch.setattr(db, "_sessionmaker", async_sessionmaker(broken, expire_on_commit=False))
    r = await client.get("/health/deep")
    await broken.dispose()
    assert r.status_code == 503
    check = r.json()["checks"]["database"]
    assert check["ok"] is False and check["status"] == "failing"
    assert "OperationalError" in check["detail"]
    assert r.json()["checks"]["livekit"]["ok"] is True


async def test_metrics_prometheus_text(client):
    await client.get("/health")
    r = await client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    assert "# TYPE nova_http_requests_total counter" in text
    assert 'nova_http_requests_total{method="GET",route="/health",status="200"}' in text
    assert "nova_http_request_duration_seconds_bucket" in text
    # Paths are recorded by route template, never by raw path (bounded label cardinality).
    await client.get("/nope/12345")
    assert "/nope/12345" not in (await client.get("/metrics")).text


def test_control_plane_never_imports_livekit_agents():
    """The control plane (app + every router + the LiveKit probe) stays off the heavy
    worker SDK: only ``livekit.api`` may be imported."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    code = (
        "import asyncio, sys\n"
        "from pydantic import SecretStr\n"
        "from nova.api import health\n"
        "from nova.api.app import create_app\n"
        "from nova.core.settings import get_settings\n"
        "s = get_settings()\n"
        "create_app(s, background=False)\n"
        "s.livekit_url, s.livekit_api_key = 'http://127.0.0.1:9', 'k'\n"
        "s.livekit_api_secret = SecretStr('x' * 32)\n"
        "r = asyncio.run(health._run_probe('livekit', health._livekit, s))\n"
        "assert r['status'] == 'failing', r  # nothing listens on port 9\n"
        "assert 'livekit.api' in sys.modules\n"
        "print(sorted(m for m in sys.modules if m.startswith('livekit.agents')))\n"
    )
    r = subprocess.run(
        [sys.executable, "-c", code],
        env=dict(os.environ, PYTHONPATH=str(root)),
        cwd=root,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
