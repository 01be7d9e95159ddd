from __future__ import annotations

from playwright.async_api import expect

from tests.web.conftest import snap


async def test_webhooks_page_secret_once_list_test_deliveries(page, monkeypatch):
    from nova.core import netguard

    async def no_dns(host, port):  # the receiver's name does not resolve here: fail closed
        raise OSError("name does not resolve")

    monkeypatch.setattr(netguard, "resolve", no_dns)
    await page.goto("/#/signup")
    await page.get_by_label("Email").fill("hooks@example.com")
    await page.get_by_label("Password").fill("a-strong-password")
    await page.get_by_role("button", name="Create account").click()
    await page.get_by_role("link", name="Webhooks").click()
    await expect(page.get_by_text("No webhooks yet.")).to_be_visible()

    # The API's rule (HTTPS only) comes back as a readable message.
    await page.get_by_label("Endpoint URL").fill("http://hooks.example.com/nova")
    await page.get_by_role("button", name="Add webhook").click()
    await expect(page.locator("form [role=alert]")).to_contain_text("https")

    await page.get_by_label("Endpoint URL").fill("https://hooks.example.com/nova")
    await page.get_by_role("button", name="Add webhook").click()
    secret = page.locator("#webhook-secret")
    await expect(secret).not_to_be_empty()
    raw = await secret.inner_text()
    assert len(raw) >= 20
    await expect(page.locator("article.hook code")).to_have_text("https://hooks.example.com/nova")
    await snap(page, "07-webhooks-created")

    # The secret is shown once: reloading the page never shows it again.
    await page.reload()
    await expect(page.locator("article.hook code")).to_have_text("https://hooks.example.com/nova")
    assert raw not in await page.content()

    await page.get_by_role("button", name="Send test").click()
    await expect(page.locator(".deliveries tbody tr")).to_have_count(1)
    await expect(page.locator(".deliveries tbody tr td").first).to_have_text("call.started")
    await expect(page.locator(".deliveries")).to_contain_text("resolve")
    await snap(page, "08-webhooks-deliveries")
    assert page.console_errors == []
