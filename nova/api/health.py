"""Operational endpoints: /health, /health/deep, /metrics.

Domains add deep probes with ``register_probe(name, coro_fn)``; each probe is capped at
2 seconds and reports ``{"ok": bool, "detail": str}``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select, text

from nova.api.deps import SettingsDep
from nova.core import clock
from nova.core.db import session_scope
from nova.core.settings import Settings
from nova.models.calls import Call

router = APIRouter(tags=["health"])

ProbeResult = tuple[bool, str]
Probe = Callable[[Settings], Awaitable[ProbeResult]]
PROBE_TIMEOUT_SECONDS = 2.0
_probes: dict[str, Probe] = {}


def register_probe(name: str, probe: Probe) -> None:
    _probes[name] = probe


async def _database(_: Settings) -> ProbeResult:
    async with session_scope() as session:
        await session.execute(text("SELECT 1"))
    return True, "ok"


register_probe("database", _database)


async def _run_probe(name: str, probe: Probe, settings: Settings) -> dict:
    try:
        ok, detail = await asyncio.wait_for(probe(settings), PROBE_TIMEOUT_SECONDS)
    except TimeoutError:
        ok, detail = False, f"timed out after {PROBE_TIMEOUT_SECONDS:g}s"
    except Exception as exc:  # noqa: BLE001 - a probe failure is data
        ok, detail = False, f"{type(exc).__name__}: {exc}"[:300]
    return {"ok": ok, "detail": detail}


async def active_calls() -> int:
    async with session_scope() as session:
        n = await session.scalar(
            select(func.count()).select_from(Call).where(Call.status == "in_progress")
        )
    return int(n or 0)


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
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
