"""The account pages in Chromium, each through its main path and its errors: portal
integrations, the do-not-call list and referrals."""

from __future__ import annotations

import hashlib
import hmac
import json

import httpx
from playwright.async_api import expect

from tests.web.conftest import sign_up, snap


async def test_portals_connect_secret_once_and_recent_leads(page):
    await sign_up(page, "agency@example.com")
    await page.get_by_role("link", name="Portals").click()
    await expect(page.get_by_text("No portal connected yet.")).to_be_visible()
    # Errors: the page's own check, then the API's (a goal that needs a link).
    await page.get_by_role("button", name="Connect portal").click()
    await expect(page.locator("form [role=alert]")).to_contain_text("Tell the agent what")
    await page.get_by_label("Product or project").fill("Marina Heights residences")
    await page.get_by_label("Goal").select_option("book_meeting")
    await page.get_by_role("button", name="Connect portal").click()
    await expect(page.locator("form [role=alert]")).to_contain_text("booking link")
    await page.get_by_label("Goal").select_option("qualify_interest")
    await expect(page.get_by_label("Send call results to")).to_have_value("agency@example.com")
    await page.get_by_role("button", name="Connect portal").click()

    secret = await page.locator("#portal-secret").inner_text()
    url = await page.locator("#portal-url").inner_text()
    assert secret.startswith("pk_") and len(secret) > 30
    assert "/webhooks/property-finder/" in url
    await expect(page.locator("article[data-portal=property_finder]")).to_contain_text(
        f"…{secret[-4:]}"
    )
    await expect(page.get_by_text("No leads yet.")).to_be_visible()
    await snap(page, "30-portals-connected")

    # A second Property Finder integration is refused with the API's reason.
    await page.get_by_role("button", name="Connect portal").click()
    await expect(page.locator("form [role=alert]")).to_contain_text("already exists")

    # The portal sends a signed lead to the URL shown: it is listed under recent leads.
    body = json.dumps(
        {
            "id": "evt_web_1",
            "type": "lead.created",
            "created_at": "2026-06-12T08:29:58Z",
            "payload": {
                "lead_id": "L-1",
                "listing": {"reference": "PF-DXB-1", "title": "2BR Marina"},
                "contact": {"name": "Omar", "phone": "+971501234567"},
            },
        }
    ).encode()
    sig = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    async with httpx.AsyncClient() as http:
        bad = await http.post(
            url, content=body, headers={"X-PropertyFinder-Signature": "sha256=00"}
        )
        assert bad.status_code == 401
        ok = await http.post(url, content=body, headers={"X-PropertyFinder-Signature": sig})
        assert ok.status_code == 200, ok.text
    await page.reload()
    row = page.locator("article[data-portal=property_finder] tbody tr")
    await expect(row).to_have_count(1)
    await expect(row).to_contain_text("Omar")
    await expect(row).to_contain_text("2BR Marina")
    assert secret not in await page.content()  # shown once, never again
    await snap(page, "31-portals-lead")

    # Disable: the page says so, and the receiver refuses leads.
    page.on("dialog", lambda d: d.accept())
    await page.get_by_role("button", name="Disable").click()
    await expect(page.locator("article[data-portal=property_finder] .row .status")).to_have_text(
        "disabled"
    )
    async with httpx.AsyncClient() as http:
        r = await http.post(url, content=body, headers={"X-PropertyFinder-Signature": sig})
        assert r.status_code == 503
    assert page.console_errors == []


async def test_do_not_call_add_import_remove(page, tmp_path):
    await sign_up(page, "careful@example.com")
    await page.get_by_role("link", name="Do-not-call").click()
    await expect(page.get_by_text("Nobody is on your do-not-call list yet.")).to_be_visible()

    await page.get_by_label("Phone number").fill("0501234567")
    await page.get_by_role("button", name="Add number").click()
    await expect(page.get_by_role("alert")).to_contain_text("no country code")
    await page.get_by_label("Phone number").fill("+971 50 123 4567")
    await page.get_by_label("Reason (optional)").fill("Asked by email")
    await page.get_by_role("button", name="Add number").click()
    await expect(page.locator("table.dnc tbody tr")).to_have_count(1)
    await expect(page.locator("table.dnc")).to_contain_text("+971501234567")
    await page.get_by_label("Phone number").fill("+971501234567")
    await page.get_by_role("button", name="Add number").click()
    await expect(page.get_by_role("alert")).to_contain_text("already on your do-not-call list")

    mixed = tmp_path / "mixed.csv"
    mixed.write_text("phone,name\n+971501234568,Sam\n12345,Oops\n+971501234567,Again\n")
    await page.get_by_label("CSV or text file").set_input_files(str(mixed))
    await page.get_by_role("button", name="Import").click()
    await expect(page.get_by_text("Imported 1 new number; 1 already on the list.")).to_be_visible()
    await expect(page.get_by_role("alert")).to_contain_text("row 3 (12345)")
    await expect(page.locator("table.dnc tbody tr")).to_have_count(2)

    good = tmp_path / "good.csv"
    good.write_text("phone\n+14155550100\n")
    await page.get_by_label("CSV or text file").set_input_files(str(good))
    await page.get_by_role("button", name="Import").click()
    await expect(page.get_by_text("Imported 1 new number.")).to_be_visible()
    await expect(page.locator("table.dnc tbody tr")).to_have_count(3)
    await expect(page.get_by_text("3 numbers on your list.")).to_be_visible()
    await snap(page, "32-do-not-call")

    page.on("dialog", lambda d: d.accept())
    await page.get_by_role("button", name="Remove +14155550100").click()
    await expect(page.locator("table.dnc tbody tr")).to_have_count(2)
    await expect(page.locator("table.dnc")).not_to_contain_text("+14155550100")
    assert page.console_errors == []


async def test_referrals_link_sign_up_and_payout_errors(browser, live_server, page):
    await sign_up(page, "referrer@example.com")
    await page.get_by_role("link", name="Referrals").click()
    code = await page.locator("#referral-code").inner_text()
    link = await page.locator("#referral-link").inner_text()
    assert code and link.endswith(f"/register?ref={code}") and link.startswith(live_server)
    await expect(page.locator("#available-balance")).to_have_text("$0.00")
    # Payout errors come back from the API in words.
    await page.get_by_label("Amount (USD)").fill("10")
    await page.get_by_role("button", name="Request payout").click()
    await expect(page.get_by_role("alert")).to_contain_text("minimum payout")
    await page.get_by_label("Amount (USD)").fill("60")
    await page.get_by_role("button", name="Request payout").click()
    await expect(page.get_by_role("alert")).to_contain_text("exceeds your available balance")

    # Someone opens the link: sign-up carries the code, and the referrer sees them.
    other = await browser.new_context(base_url=live_server)
    friend = await other.new_page()
    await friend.goto(link)
    await expect(friend.get_by_text(f"Referral code {code} applied")).to_be_visible()
    await friend.get_by_label("Email").fill("friend@example.com")
    await friend.get_by_label("Password").fill("a-strong-password")
    await friend.get_by_role("button", name="Create account").click()
    await expect(friend.get_by_role("heading", name="Deploy your first agent")).to_be_visible()
    await other.close()

    await page.reload()
    await expect(page.locator("table")).to_contain_text("f***@example.com")
    await expect(page.locator("table")).to_contain_text("Signed up")
    await snap(page, "33-referrals")
    assert page.console_errors == []
