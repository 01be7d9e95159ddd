"""Operational endpoints: /health, /health/deep, /metrics.

Built-in deep probes: ``database``, ``livekit`` and ``redis`` (the shared rate-limit store,
when ``NOVA_REDIS_URL`` is set).

Domains add deep probes with ``register_probe(name, coro_fn)``; a probe returns
``(ok, detail)`` and is capped at ``PROBE_TIMEOUT_SECONDS`` (2 s). Every probe runs
concurrently and reports ``{"ok": bool, "status": "ok" | "failing" | "not_configured",
"detail": str, "latency_ms": float, "reason": str | null}``. A dependency that is not configured returns ``NOT_CONFIGURED``: it does
not fail the deep check (Nova runs without it), but is labelled so.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from nova.api.deps import SettingsDep
from nova.core import clock
from nova.core.db import ping_database, session_scope
from nova.core.metrics import render as render_metrics
from nova.core.ratelimit import RedisRateLimiter, get_limiter
from nova.core.settings import Settings

router = APIRouter(tags=["health"])
log = logging.getLogger("nova.health")

ProbeResult = tuple[bool, str]
Probe = Callable[[Settings], Awaitable[ProbeResult]]
PROBE_TIMEOUT_SECONDS = 2.0
NOT_CONFIGURED: ProbeResult = (True, "not configured")
_probes: dict[str, Probe] = {}


def register_probe(name: str, probe: Probe) -> None:
    _probes[name] = probe


async def _database(_: Settings) -> ProbeResult:
    await ping_database()
    return True, "ok"


async def _livekit(settings: Settings) -> ProbeResult:
    """One authenticated ``ListRooms`` call through the real server SDK."""
    if not settings.livekit_configured:
        return NOT_CONFIGURED
    import aiohttp
    from livekit import api  # lazy: never livekit.agents in the control plane

    assert settings.livekit_api_secret is not None
    async with api.LiveKitAPI(
        settings.livekit_url,
        settings.livekit_api_key,
        settings.livekit_api_secret.get_secret_value(),
        timeout=aiohttp.ClientTimeout(total=PROBE_TIMEOUT_SECONDS),
        failover=False,  # probe the configured server itself, not a fallback region
    ) as lk:
        rooms = await lk.room.list_rooms(api.ListRoomsRequest())
    return True, f"ok ({len(rooms.rooms)} rooms)"


async def _redis(settings: Settings) -> ProbeResult:
    """A PING through the rate limiter's own client (``NOVA_REDIS_URL``). While it fails,
    rate limits fall back to per-process counting (see ``nova.core.ratelimit``)."""
    if not settings.redis_url:
        return NOT_CONFIGURED
    limiter = get_limiter(settings)
    assert isinstance(limiter, RedisRateLimiter)
    await limiter.ping()
    return True, "ok"


register_probe("database", _database)
register_probe("livekit", _livekit)
register_probe("redis", _redis)


async def _run_probe(name: str, probe: Probe, settings: Settings) -> dict:
    limit = PROBE_TIMEOUT_SECONDS
    started = time.perf_counter()
    try:
        ok, detail = await asyncio.wait_for(probe(settings), limit)
    except TimeoutError:
        ok, detail = False, f"timed out after {limit:g}s"
    except Exception as exc:  # noqa: BLE001 - a probe failure is data
        log.warning("health probe %s failed: %s", name, type(exc).__name__)
        ok, detail = False, f"{type(exc).__name__}: {exc}"[:300]
    latency_ms = round((time.perf_counter() - started) * 1000, 2)
    state = "ok" if ok else "failing"
    if (ok, detail) == NOT_CONFIGURED:
        state = "not_configured"
    # ``latency_ms`` and ``reason`` (why it is not ok; null when it is) are what the published
    # MCP client reads; ``ok`` and ``detail`` are ours.
    reason = None if state == "ok" else detail
    return {"ok": ok, "status": state, "detail": detail, "latency_ms": latency_ms, "reason": reason}


async def active_calls() -> int:
    from nova.calls import repository

    async with session_scope() as session:
        return await repository.count_in_progress(session)


@router.get("/health")
async def health(settings: SettingsDep):
    return {
        "status": "ok",
        "timestamp": clock.now().isoformat().replace("+00:00", "Z"),
        "active_calls": await active_calls(),
        "ttl_seconds": settings.call_job_ttl_seconds,
    }


@router.get("/health/deep")
async def health_deep(settings: SettingsDep):
    names = list(_probes)
    results = await asyncio.gather(*(_run_probe(n, _probes[n], settings) for n in names))
    checks = dict(zip(names, results, strict=True))
    ok = all(c["ok"] for c in checks.values())
    body = {
        "status": "ok" if ok else "degraded",
        "timestamp": clock.now().isoformat().replace("+00:00", "Z"),
        "checks": checks,
    }
    return JSONResponse(body, status_code=200 if ok else 503)


@router.get("/metrics", include_in_schema=False)
async def metrics() -> Response:
    return Response(render_metrics(), media_type=CONTENT_TYPE_LATEST)
