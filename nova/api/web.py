"""Serves the browser app (nova/web, built with Vite) at ``/``.

The built assets ship inside the package (nova/web/dist); nothing is loaded from a CDN.
When the UI has not been built, ``/`` explains how to build it instead of failing.
"""

from __future__ import annotations

import functools
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

from nova.api.deps import SettingsDep

DIST = Path(__file__).resolve().parent.parent / "web" / "dist"

# livekit-client talks to the LiveKit server over WebSocket/WebRTC (any host the operator
# configures), so connect-src allows ws/wss; everything else is same-origin.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
    "media-src 'self' blob:; connect-src 'self' ws: wss: https:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'self'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Permissions-Policy": "microphone=(self), camera=()",
}

NOT_BUILT = """<!doctype html><html lang="en"><meta charset="utf-8"><title>Nova</title>
<body style="font-family:system-ui;max-width:40rem;margin:3rem auto;padding:0 1rem">
<h1>Nova is running</h1><p>The web app has not been built in this checkout. Build it with</p>
<pre>npm --prefix nova/web ci &amp;&amp; npm --prefix nova/web run build</pre>
<p>The API is up: see <a href="/docs">/docs</a>.</p></body></html>"""

router = APIRouter(include_in_schema=False)


@functools.lru_cache(maxsize=8)
def security_headers(stripe_js_url: str | None) -> dict[str, str]:
    """The headers of the app's page. With card payments configured, Stripe.js's origin is
    the one outside source allowed: for its script and its card-field frames (Stripe
    requires both to come from Stripe; 3-D Secure pages come from hooks.stripe.com)."""
    if not stripe_js_url:
        return SECURITY_HEADERS
    parts = urlsplit(stripe_js_url)
    origin = f"{parts.scheme}://{parts.netloc}"
    frames = f"{origin} https://hooks.stripe.com" if parts.netloc == "js.stripe.com" else origin
    csp = CSP.replace("script-src 'self'", f"script-src 'self' {origin}")
    csp += f"; frame-src {frames}"
    return {**SECURITY_HEADERS, "Content-Security-Policy": csp}


@router.get("/")
async def index(settings: SettingsDep):
    cards = settings.stripe_api_key is not None and settings.stripe_publishable_key
    headers = security_headers(settings.stripe_js_url if cards else None)
    page = DIST / "index.html"
    if not page.is_file():
        return HTMLResponse(NOT_BUILT, headers=headers)
    return FileResponse(page, headers={**headers, "Cache-Control": "no-cache"})


@router.get("/register")
async def register_link(ref: str | None = None):
    """The referral link (``<public_url>/register?ref=CODE``) opens the web app's sign-up
    with the code filled in."""
    target = "/#/signup"
    if ref:
        target += "?" + urlencode({"ref": ref[:64]})
    return RedirectResponse(target, status_code=303)


def mount_assets(app: FastAPI) -> None:
    assets = DIST / "assets"
    if assets.is_dir():
        app.mount("/assets", StaticFiles(directory=assets), name="web-assets")
