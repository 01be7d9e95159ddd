"""Browser tests: the real app served by uvicorn on loopback, driven by Playwright in
Debian's headless Chromium (never a browser downloaded by a tool)."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from nova.api.app import create_app
from nova.api.web import DIST
from tests.billing.conftest import stripe_fake, ziina_fake  # noqa: F401 (the plan page's tests)
from tests.serve import loopback_socket, serving
from tests.twilio_byo.conftest import twilio  # noqa: F401 (the Twilio page's tests)
from tests.voice.conftest import provider  # noqa: F401 (the voice page's tests)

CHROMIUM = os.environ.get("NOVA_TEST_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(os.environ.get("NOVA_TEST_ARTIFACTS", "test-artifacts"))


@pytest.fixture
async def live_server(settings):
    if not (DIST / "index.html").is_file():
        pytest.fail(
            "The web app is not built: run `npm --prefix nova/web ci && npm --prefix nova/web run build`"
        )
    sock = loopback_socket()
    settings.public_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    async with serving(create_app(settings, background=False), sock) as url:
        yield url


@pytest.fixture
async def browser():
    from playwright.async_api import async_playwright

    if not Path(CHROMIUM).exists() and not shutil.which("chromium"):
        pytest.fail("Chromium is not installed: `apt-get install chromium` (see .ci/run)")
    async with async_playwright() as pw:
        b = await pw.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--use-fake-ui-for-media-stream",
                "--use-fake-device-for-media-stream",
            ],
        )
        yield b
        await b.close()


@pytest.fixture
async def page(browser, live_server):
    context = await browser.new_context(
        base_url=live_server, viewport={"width": 1200, "height": 900}
    )
    await context.grant_permissions(["microphone"], origin=live_server)
    p = await context.new_page()
    p.console_errors = []  # type: ignore[attr-defined]
    p.on("pageerror", lambda e: p.console_errors.append(str(e)))  # type: ignore[attr-defined]
    yield p
    await context.close()


async def snap(page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    await page.screenshot(path=str(path), full_page=True)
    return path


async def sign_up(page, email: str) -> str:
    """Create an account through the sign-up page; the new user's id."""
    from playwright.async_api import expect

    await page.goto("/#/signup")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill("a-strong-password")
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("heading", name="Deploy your first agent")).to_be_visible()
    token = await page.evaluate("localStorage.getItem('nova.token')")
    me = await page.request.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    return (await me.json())["id"]
