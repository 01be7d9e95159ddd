"""The FastAPI application factory."""

from __future__ import annotations

import gc
import importlib
import logging
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from nova import __version__
from nova.api.hardening import JsonDepthMiddleware
from nova.api.hardening import install as install_hardening
from nova.api.middleware import BodySizeLimitMiddleware, RequestContextMiddleware
from nova.core.db import dispose_engine, init_engine
from nova.core.errors import install_error_handlers
from nova.core.events import load_plugins, set_notify
from nova.core.ratelimit import aclose_limiters
from nova.core.settings import Settings, get_settings

log = logging.getLogger("nova.app")


# Every domain's router: "module" (its ``router``) or "module:attribute", in OpenAPI
# order. One per line.
# Order matters for speed, not meaning (no path is matched by two modules' routes): the
# router tries each module's routes in turn, ~3 µs a route, so the hot paths come first
# (POST /calls, portal receivers, worker reports) and the web app's catch-all last.
ROUTER_MODULES: list[str] = [
    "nova.calls.router",
    "nova.portals.router",
    "nova.telephony.reports",
    "nova.api.health",
    "nova.webhooks.router",
    "nova.accounts.router",
    "nova.transfer.router",
    "nova.calls.history",
    "nova.compliance.router",
    "nova.quality.router",
    "nova.records.router",
    "nova.voice.router",
    "nova.twilio_byo.router",
    "nova.billing.router",
    "nova.billing.router:referrals_router",
    "nova.evals.router",
    "nova.api.web",
]


def _routers():
    routers = []
    for entry in ROUTER_MODULES:
        module, _, attr = entry.partition(":")
        routers.append(getattr(importlib.import_module(module), attr or "router"))
    return routers


# Extra (prefix → bytes) body caps for upload routes, e.g. voice enrolment.
BODY_LIMIT_OVERRIDES: dict[str, int] = {}
# Async context managers entered for the app's lifetime (e.g. the MCP session manager).
LIFESPAN_HOOKS: list = []


def create_app(settings: Settings | None = None, *, background: bool | None = None) -> FastAPI:
    settings = settings or get_settings()
    run_background = settings.background_runner if background is None else background
    # Not under tests, where apps come and go in one process (frozen objects are never freed).
    freeze_heap = settings.env != "test"
    if not logging.getLogger().handlers:
        # Served by a bare ASGI server (`uvicorn nova.api.app:create_app --factory`) rather
        # than `nova serve`: apply Nova's log settings here, so the level is honoured and no
        # library (the MCP SDK does) installs its own, much slower, root handler later.
        from nova.core.logging import configure_logging

        configure_logging(settings.log_level, settings.log_json)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        init_engine(settings)
        set_notify(settings.pump_notify_enabled)
        load_plugins()
        runner = None
        async with AsyncExitStack() as stack:
            for hook in LIFESPAN_HOOKS:
                await stack.enter_async_context(hook(app))
            if run_background:
                from nova.core.runner import BackgroundRunner

                runner = BackgroundRunner(settings)
                await runner.start()
            app.state.runner = runner
            if freeze_heap:
                # Everything built at start-up (modules, routes, models, compiled SQL) lives
                # as long as the process: move it out of the cyclic GC's reach, so a full
                # collection scans only request garbage instead of pausing every request in
                # flight for tens of milliseconds.
                gc.collect()
                gc.freeze()
            try:
                yield
            finally:
                if runner is not None:
                    await runner.stop()
        await aclose_limiters()
        await dispose_engine()

    app = FastAPI(
        title="Nova API",
        version=__version__,
        description="Voice-agent call orchestration: briefs, LiveKit agents, metering, "
        "quality scores and signed lifecycle webhooks.",
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc are nova.api.docs: no CDN
        redoc_url=None,
    )
    app.state.settings = settings
    install_error_handlers(app)
    install_hardening(app)
    for router in _routers():
        # The routes join the app's own list, as if declared with @app.get: our routers
        # carry their prefixes and dependencies on each route already, and FastAPI's
        # include_router() wraps every router in a per-request matching layer that cost
        # ~0.2-0.5 ms of CPU per request (0.165; measured with bench/calls_profile.py).
        app.router.routes.extend(router.routes)
    if settings.mcp_enabled:
        from nova.mcp_server.mount import install as install_mcp

        install_mcp(app, settings)  # /mcp; the MCP server starts with the lifespan
    from nova.api.docs import install as install_docs
    from nova.api.web import mount_assets

    install_docs(app)
    mount_assets(app)
    app.add_middleware(JsonDepthMiddleware)  # inside the size cap: it reads capped bodies
    app.add_middleware(
        BodySizeLimitMiddleware, max_bytes=settings.max_body_bytes, overrides=BODY_LIMIT_OVERRIDES
    )
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_credentials=False,
            allow_methods=["GET", "POST", "DELETE", "PATCH", "PUT", "OPTIONS"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key", "X-Request-Id"],
            expose_headers=["X-Request-Id", "Retry-After"],
        )
    app.add_middleware(RequestContextMiddleware)
    return app
