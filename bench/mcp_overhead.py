"""MCP overhead: what a tool call costs on top of the REST request it wraps.

    cd <checkout> && PYTHONPATH=. /work/.venv/bin/python bench/mcp_overhead.py [N]

Everything in-process on a temporary SQLite database: the app behind
``httpx.ASGITransport``; (a) direct ``GET /auth/me`` and ``GET /health`` through httpx,
(b) the same through the in-process MCP client (``Client(server)`` → tool → NovaClient),
(c) the /mcp mount over the streamable HTTP client (bearer check + tool, stateless JSON),
and the cost of building the server once (``build_server``) and importing the SDK.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

N = int(sys.argv[1]) if len(sys.argv) > 1 else 200
_tmp = Path(tempfile.mkdtemp(prefix="nova-bench-mcp-"))
os.environ.update(
    {
        "NOVA_DATABASE_URL": f"sqlite+aiosqlite:///{_tmp / 'bench.db'}",
        "NOVA_ENV": "development",
        "NOVA_BACKGROUND_RUNNER": "false",
        "NOVA_PUBLIC_URL": "http://testserver",
        "NOVA_LOG_LEVEL": "WARNING",
        "NOVA_JWT_SECRET": "bench-jwt-secret-0123456789abcdef0123456789",
    }
)

import logging  # noqa: E402

import httpx  # noqa: E402

import nova.models  # noqa: E402, F401
from nova.api.app import create_app  # noqa: E402
from nova.core.db import init_engine  # noqa: E402
from nova.core.migrate import upgrade  # noqa: E402
from nova.core.settings import get_settings  # noqa: E402


async def timed(label: str, fn, n: int) -> None:
    for _ in range(5):
        await fn()
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        await fn()
        samples.append((time.perf_counter() - t) * 1000)
    samples.sort()
    p50 = statistics.median(samples)
    p95 = samples[int(len(samples) * 0.95) - 1]
    print(f"| {label} | {p50:.2f} ms | {p95:.2f} ms |")


async def main() -> None:
    t = time.perf_counter()
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    from nova.mcp_server.client import NovaClient
    from nova.mcp_server.mount import mcp_lifespan
    from nova.mcp_server.server import SessionProvider, build_server

    print(f"import mcp + nova.mcp_server: {(time.perf_counter() - t) * 1000:.0f} ms")

    settings = get_settings()
    init_engine(settings)
    app = create_app(settings, background=False)
    transport = httpx.ASGITransport(app=app, client=("203.0.113.10", 40000))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        r = await http.post(
            "/auth/register", json={"email": "bench@example.com", "password": "bench-pass"}
        )
        token = r.json()["access_token"]
        headers = {"Authorization": f"Bearer {token}"}

        t = time.perf_counter()
        for _ in range(20):
            build_server(SessionProvider(NovaClient()))
        print(f"build_server (15 tools + resource): {(time.perf_counter() - t) / 20 * 1000:.1f} ms")
        print()
        print("| path | p50 | p95 |")
        print("| --- | --- | --- |")

        await timed("direct httpx GET /health", lambda: http.get("/health"), N)
        await timed("direct httpx GET /auth/me", lambda: http.get("/auth/me", headers=headers), N)

        api = NovaClient("http://testserver", token, transport=transport)
        async with Client(build_server(SessionProvider(api))) as mcp:
            await timed("in-process MCP health_check", lambda: mcp.call_tool("health_check", {}), N)
            await timed(
                "in-process MCP whoami (2 requests)", lambda: mcp.call_tool("whoami", {}), N
            )

        async with mcp_lifespan(app):
            h2 = httpx2.AsyncClient(
                transport=httpx2.ASGITransport(app=app, client=("198.51.100.7", 5555)),
                base_url="http://testserver",
                headers=headers,
            )
            async with (
                h2,
                Client(streamable_http_client("http://testserver/mcp", http_client=h2)) as mcp,
            ):
                await timed(
                    "/mcp mount health_check (auth check + tool)",
                    lambda: mcp.call_tool("health_check", {}),
                    N,
                )
                await timed(
                    "/mcp mount whoami (auth check + 2 requests)",
                    lambda: mcp.call_tool("whoami", {}),
                    N,
                )


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    upgrade(get_settings().database_url)  # alembic runs its own event loop
    asyncio.run(main())
