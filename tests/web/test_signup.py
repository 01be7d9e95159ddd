from __future__ import annotations

from playwright.async_api import expect

from tests.web.conftest import snap


async def test_sign_up_lands_on_wizard_with_trial(page):
    await page.goto("/")
    await expect(page.get_by_role("heading", name="Log in to Nova")).to_be_visible()
    await snap(page, "01-login")
    await page.get_by_role("link", name="Create an account").click()
    await page.get_by_label("Email").fill("web-user@example.com")
    await page.get_by_label("Password").fill("123")
    await page.get_by_role("button", name="Create account").click()
    # The API's 422 detail is shown, readable.
    await expect(page.get_by_role("alert")).to_contain_text("at least 6 characters")
    await page.get_by_label("Password").fill("a-strong-password")
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("heading", name="Deploy your first agent")).to_be_visible()
    await expect(page.get_by_text("Trial · 10")).to_be_visible()
    await snap(page, "02-wizard")
    assert page.console_errors == []


async def test_duplicate_sign_up_shows_api_detail(page, client):
    from tests.conftest import register

    await register(client, "taken@example.com")
    await page.goto("/#/signup")
    await page.get_by_label("Email").fill("taken@example.com")
    await page.get_by_label("Password").fill("a-strong-password")
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("alert")).to_have_text("Email already registered")
    await expect(page.get_by_role("link", name="Log in").last).to_be_visible()


async def test_pages_fit_a_phone_screen(browser, live_server):
    context = await browser.new_context(
        base_url=live_server, viewport={"width": 390, "height": 800}
    )
    page = await context.new_page()
    await page.goto("/#/signup")
    await page.get_by_label("Email").fill("phone@example.com")
    await page.get_by_label("Password").fill("a-strong-password")
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("heading", name="Deploy your first agent")).to_be_visible()
    for route in (
        "#/deploy",
        "#/calls",
        "#/usage",
        "#/webhooks",
        "#/portals",
        "#/do-not-call",
        "#/referrals",
    ):
        await page.goto("/" + route)
        await page.wait_for_load_state("networkidle")
        overflow = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"{route} scrolls sideways by {overflow}px"
    await page.goto("/#/deploy")
    await snap(page, "09-wizard-phone")
    await context.close()
