"""Fixtures for the calls tests: a real local website (aiohttp on loopback), request
payloads, and cleanup of the long-lived LiveKit / LLM clients and the scrape cache."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from typing import Any

import pytest
from aiohttp import web

from nova.calls import briefs, scrape
from nova.telephony import livekit as lk_mod

HTML = """<!doctype html><html><head><title>CloudSync CRM - Sync every deal</title>
<meta name="description" content="The CRM for mid-market teams in the Gulf.">
<style>body{color:red}</style><script>var secret = "do-not-index";</script></head>
<body><nav>Home | Pricing</nav><h1>CloudSync CRM</h1>
<p>CloudSync keeps every customer conversation in one place for sales teams of 10 to 500.</p>
<p>Pricing starts at AED 99 per seat per month, with free migration from spreadsheets.</p>
<noscript>enable js</noscript></body></html>"""


@pytest.fixture(autouse=True)
async def _calls_cleanup():
    scrape.clear_cache()
    yield
    await lk_mod.aclose_clients()
    await briefs.aclose_clients()
    scrape.clear_cache()


class Site:
    """A tiny website on 127.0.0.1 that records every request path."""

    def __init__(self) -> None:
        self.hits: Counter[str] = Counter()
        self.port = 0
        self.redirects: dict[str, str] = {}
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        self.hits[path] += 1
        if path in self.redirects:
            return web.Response(status=302, headers={"Location": self.redirects[path]})
        if path == "/":
            return web.Response(text=HTML, content_type="text/html")
        if path == "/big":
            resp = web.StreamResponse(headers={"Content-Type": "text/html"})
            await resp.prepare(request)
            chunk = ("<p>" + "x" * 8189 + "</p>").encode()
            try:
                for _ in range(4000):  # ~32 MB if the client kept reading
                    await resp.write(chunk)
                    self.hits["/big:chunks"] += 1
            except (ConnectionResetError, RuntimeError):
                pass
            return resp
        if path == "/slow":
            await asyncio.sleep(1)
            return web.Response(text=HTML, content_type="text/html")
        if path == "/pdf":
            return web.Response(body=b"%PDF-1.4", content_type="application/pdf")
        if path.startswith("/hop"):
            n = int(path[4:] or 0)
            return web.Response(status=302, headers={"Location": f"/hop{n + 1}"})
        return web.Response(status=404, text="not found")

    async def start(self) -> Site:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def site(settings):
    """The local test site, with loopback exempted from the SSRF guard."""
    settings.ssrf_allow_cidrs = ["127.0.0.0/8"]
    s = await Site().start()
    yield s
    await s.stop()


def payload(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "owner_email": "owner@example.com",
        "product": "CloudSync CRM",
        "context": "Mid-market CRM, AED 99/seat, main objection is migration effort",
        "goal": "qualify_interest",
        "consent": True,
        "leads": [{"phone": "+971501234567", "name": "Sarah", "company": "Acme Corp"}],
    }
    body.update(overrides)
    return body


PHONES = ["+971501234567", "+971501234568", "+971501234569", "+971501234570", "+971501234571"]


def leads(n: int) -> list[dict[str, str]]:
    return [{"phone": PHONES[i], "name": f"Lead {i}"} for i in range(n)]


def brief_json(
    opening: str = "Hi, this is Nova, an AI assistant calling on behalf of CloudSync CRM.",
) -> str:
    return json.dumps(
        {
            "agent_instructions": "You are Nova, an AI sales assistant.",
            "opening_line": opening,
            "qualification_questions": ["How do you track deals today?"],
            "objection_handlers": [{"objection": "Too expensive", "response": "AED 99/seat."}],
            "closing_script": "Thanks for your time!",
            "product_facts": ["AED 99 per seat"],
        }
    )
