"""A newcomer's first hour (issue 22) in Chromium: the API docs render offline, a password
can be reset, sign-up errors read like sentences, the skip link and a phone-sized calls
table work, and a batch that failed says why and cannot be sent twice by accident."""

from __future__ import annotations

import asyncio
import json
import re
from urllib.parse import urlparse

from playwright.async_api import expect

from nova.core import mailer
from tests.web.conftest import sign_up, snap


async def _offline(page, live_server) -> list[str]:
    """Refuse every request to another host (as an offline machine would); return them."""
    own = urlparse(live_server).netloc
    outside: list[str] = []

    async def guard(route):
        if urlparse(route.request.url).netloc != own and not route.request.url.startswith("data:"):
            outside.append(route.request.url)
            await route.abort()
        else:
            await route.continue_()

    await page.route("**/*", guard)
    return outside


async def test_docs_and_redoc_render_offline(page, live_server):
    outside = await _offline(page, live_server)
    await page.goto("/docs")
    calls_op = page.locator('.opblock-summary-path[data-path="/calls"]')
    await expect(calls_op.first).to_be_visible(timeout=20000)
    assert await page.locator(".opblock").count() > 30  # every operation, not a stub
    await page.locator(".opblock-post .opblock-summary", has=calls_op).first.click()
    await expect(page.get_by_text("owner_email").first).to_be_visible()
    await snap(page, "20-docs-offline")
    await page.goto("/redoc")
    await expect(page.get_by_role("heading", name=re.compile("Nova API")).first).to_be_visible(
        timeout=20000
    )
    await expect(page.get_by_text("/v1/webhooks").first).to_be_attached()
    assert outside == []
    assert page.console_errors == []


async def test_forgot_and_reset_password_from_the_login_page(page):
    mailer.outbox.clear()
    await sign_up(page, "forgetful@example.com")
    await page.get_by_role("button", name="Log out").click()
    await page.get_by_role("link", name="Forgot password?").click()
    await expect(page.get_by_role("heading", name="Reset your password")).to_be_visible()
    await page.get_by_label("Email").fill("forgetful@example.com")
    await page.get_by_role("button", name="Send reset code").click()
    await expect(page.get_by_role("heading", name="Enter your reset code")).to_be_visible()
    await expect(page.get_by_label("Email")).to_have_value("forgetful@example.com")
    # The code is made and mailed after the response (the same work for every address).
    for _ in range(100):
        if any(m.to == "forgetful@example.com" for m in mailer.outbox):
            break
        await asyncio.sleep(0.05)
    [mail] = [m for m in mailer.outbox if m.to == "forgetful@example.com"]
    code = re.search(r"\b(\d{6})\b", mail.body).group(1)

    wrong = "000000" if code != "000000" else "111111"
    await page.get_by_label("6-digit code").fill(wrong)
    await page.get_by_label("New password").fill("a-newer-password")
    await page.get_by_role("button", name="Set new password").click()
    await expect(page.get_by_role("alert")).to_contain_text("Invalid or expired reset code")
    await page.get_by_text("Didn't get a code?").click()
    await expect(page.get_by_text("DEVELOPMENT ONLY")).to_be_visible()
    await snap(page, "21-reset-password")

    await page.get_by_label("6-digit code").fill(code)
    await page.get_by_role("button", name="Set new password").click()
    await expect(page.get_by_role("heading", name="Log in to Nova")).to_be_visible()
    await expect(page.get_by_label("Email")).to_have_value("forgetful@example.com")
    await page.get_by_label("Password").fill("a-newer-password")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("heading", name="Calls")).to_be_visible()
    assert page.console_errors == []


async def test_sign_up_errors_read_like_sentences_and_one_way_to_log_in(page, client):
    from tests.conftest import register

    await page.goto("/#/signup")
    await page.get_by_label("Email").fill("no-at-sign")
    await page.get_by_label("Password").fill("a-strong-password")
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("alert")).to_have_text(
        "Enter a valid email address, like you@example.com."
    )
    # What only the server knows comes back as a sentence, not validator jargon.
    await page.get_by_label("Email").fill("two..dots@example.com")
    await page.get_by_role("button", name="Create account").click()
    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("Email: ")
    text = await alert.inner_text()
    assert "Value error" not in text and "value is not a valid email address" not in text
    assert "period" in text

    await register(client, "taken2@example.com")
    await page.get_by_label("Email").fill("taken2@example.com")
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("alert")).to_have_text("Email already registered")
    main_links = page.locator("main").get_by_role("link", name="Log in")
    await expect(main_links).to_have_count(1)
    await snap(page, "22-duplicate-signup")
    await main_links.click()
    await expect(page.get_by_role("heading", name="Log in to Nova")).to_be_visible()
    await expect(page.get_by_label("Email")).to_have_value("taken2@example.com")


async def test_skip_link_focuses_the_page_without_covering_the_navigation(page):
    await sign_up(page, "keyboard@example.com")
    await page.goto("/#/calls")
    await expect(page.get_by_role("heading", name="Calls")).to_be_visible()
    skip = page.get_by_role("link", name="Skip to content")
    await skip.focus()  # as Shift+Tab from the page, or the first Tab after loading it
    await expect(skip).to_be_visible()
    skip_box = await skip.bounding_box()
    nav_box = await page.locator("header.topbar").bounding_box()
    assert skip_box["y"] + skip_box["height"] <= nav_box["y"] + 1  # above it, not over it
    await page.keyboard.press("Enter")
    await expect(page.locator("main")).to_be_focused()
    assert page.url.endswith("#/calls")
    await expect(page.get_by_role("heading", name="Calls")).to_be_visible()
    await expect(page.get_by_text("Page not found")).to_have_count(0)


async def test_failed_batch_says_why_locks_the_form_and_the_call_page_offers_no_join(page):
    # LiveKit is not configured here: every lead fails, with the reason from the API.
    await sign_up(page, "no-livekit@example.com")
    posts: list[dict] = []
    page.on(
        "request",
        lambda r: (
            posts.append(r.headers) if r.method == "POST" and r.url.endswith("/calls") else None
        ),
    )
    failed_once = False

    async def flaky(route):  # the first attempt never reaches the server
        nonlocal failed_once
        if not failed_once:
            failed_once = True
            await route.abort("connectionreset")
        else:
            await route.continue_()

    await page.route("**/calls", flaky)
    await page.get_by_label("Product").fill("CloudSync CRM")
    await page.get_by_role("button", name="Next").click()
    await page.get_by_role("button", name="Next").click()
    await page.get_by_label("Lead 1 phone (E.164)").fill("+971501234567")
    await page.get_by_label("Lead 1 name").fill("Sarah")
    await page.get_by_label("I confirm I have permission to contact these people.").check()
    await page.get_by_role("button", name="Deploy agent").click()
    await expect(page.get_by_role("alert")).to_contain_text("Cannot reach the Nova server")
    await page.get_by_role("button", name="Deploy agent").click()
    await expect(page.get_by_role("heading", name="0 of 1 agents dispatched")).to_be_visible()
    # The retry of the same form is the same batch: same Idempotency-Key.
    assert len(posts) == 2 and posts[0]["idempotency-key"] == posts[1]["idempotency-key"]
    await expect(page.locator("ul.results")).to_contain_text("LiveKit is not configured")
    await expect(page.get_by_role("button", name="Deploy agent")).to_be_hidden()
    await expect(page.get_by_role("button", name="Start another batch")).to_be_visible()
    assert await page.locator("fieldset:not([disabled])").count() == 0
    await snap(page, "23-wizard-failed-reason")

    await page.locator("ul.results").get_by_role("link", name="Sarah").click()
    await expect(page.get_by_role("heading", name="Sarah")).to_be_visible()
    await expect(page.get_by_text("This call failed, so there is no room to join.")).to_be_visible()
    await expect(page.get_by_role("button", name="Join call as test caller")).to_have_count(0)
    await expect(page.get_by_text("Not scored: the call failed.")).to_be_visible()
    await expect(page.get_by_text("No transcript: the call failed")).to_be_visible()
    await snap(page, "24-failed-call")
    assert page.console_errors == []


async def test_calls_table_shows_every_column_at_390px(browser, live_server, livekit):
    context = await browser.new_context(
        base_url=live_server, viewport={"width": 390, "height": 800}
    )
    page = await context.new_page()
    await sign_up(page, "narrow@example.com")
    token = await page.evaluate("localStorage.getItem('nova.token')")
    body = {
        "owner_email": "narrow@example.com",
        "product": "CloudSync CRM",
        "goal": "qualify_interest",
        "consent": True,
        "leads": [{"phone": "+971501234567", "name": "Sarah Al-Mansouri"}],
    }
    r = await page.request.post(
        "/calls",
        data=json.dumps(body),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    assert r.status == 200
    await page.goto("/#/calls")
    status = page.locator("tbody .status").first
    await expect(status).to_be_visible()
    box = await status.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    await expect(page.locator("tbody td[data-label=Status]").first).to_be_visible()
    overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert overflow <= 0
    await snap(page, "25-calls-390px")
    await context.close()
