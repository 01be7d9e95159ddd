from __future__ import annotations

from playwright.async_api import expect

from tests.web.conftest import snap


async def test_transfer_page_sets_checks_and_removes_the_number(page):
    await page.goto("/#/signup")
    await page.get_by_label("Email").fill("transfer@example.com")
    await page.get_by_label("Password").fill("a-strong-password")
    await page.get_by_role("button", name="Create account").click()
    await page.get_by_role("link", name="Transfer").click()
    status = page.locator("#transfer-status")
    await expect(status).to_contain_text("No number set")
    await expect(page.get_by_role("button", name="Remove number")).to_be_hidden()

    # The API's strict E.164 rule comes back as a readable message; nothing is stored.
    await page.get_by_label("Your team's number").fill("+1 415 555 0123")
    await page.get_by_role("button", name="Save number").click()
    await expect(page.locator("form [role=alert]")).to_contain_text("E.164")

    await page.get_by_label("Your team's number").fill("+14155550123")
    await page.get_by_label("How to hand over").select_option("cold")
    await page.get_by_role("button", name="Save number").click()
    await expect(status).to_contain_text("+14155550123 (cold)")
    await snap(page, "09-transfer-set")

    await page.reload()
    await expect(status).to_contain_text("+14155550123 (cold)")
    await expect(page.get_by_label("How to hand over")).to_have_value("cold")

    page.once("dialog", lambda d: d.accept())
    await page.get_by_role("button", name="Remove number").click()
    await expect(status).to_contain_text("No number set")
    await page.reload()
    await expect(status).to_contain_text("No number set")
    assert page.console_errors == []
