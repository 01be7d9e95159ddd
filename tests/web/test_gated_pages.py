"""The gated surfaces in Chromium: bring-your-own Twilio and voice cloning, shown only to
accounts whose feature flag is on."""

from __future__ import annotations

from playwright.async_api import expect

from tests.twilio_byo.conftest import set_flags
from tests.twilio_byo.fake_twilio import ACCOUNT_SID, API_KEY_SECRET, API_KEY_SID
from tests.web.conftest import snap


async def _sign_up(page, email) -> str:
    await page.goto("/#/signup")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill("a-strong-password")
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("heading", name="Deploy your first agent")).to_be_visible()
    token = await page.evaluate("localStorage.getItem('nova.token')")
    me = await page.request.get("/auth/me", headers={"Authorization": f"Bearer {token}"})
    return (await me.json())["id"]


async def test_byo_twilio_credentials_import_verify_default(page, twilio, livekit):
    user_id = await _sign_up(page, "own-numbers@example.com")
    await expect(page.get_by_role("link", name="Twilio")).to_have_count(0)  # flag off
    await set_flags(user_id, byo_twilio=True)
    await page.reload()
    await page.get_by_role("link", name="Twilio").click()
    await expect(page.locator("#credential-status")).to_contain_text("No credentials saved.")

    await page.get_by_label("Account SID").fill("AC123")
    await page.get_by_role("button", name="Save credentials").click()
    await expect(page.get_by_role("alert")).to_contain_text("starts with AC")
    await page.get_by_label("Account SID").fill(ACCOUNT_SID)
    await page.get_by_label("API key SID").fill(API_KEY_SID)
    await page.get_by_label("API key secret").fill(API_KEY_SECRET)
    twilio.add_number("+14155550123")
    await page.get_by_role("button", name="Save credentials").click()
    await expect(page.locator("#credential-status")).to_contain_text(f"…{ACCOUNT_SID[-4:]}")
    assert API_KEY_SECRET not in await page.content()
    await page.get_by_role("button", name="Check with Twilio").click()
    await expect(page.locator("#credential-status")).to_contain_text("they work")

    await page.get_by_role("button", name="Import +14155550123").click()
    number = page.locator("article[data-number='+14155550123']")
    await expect(number).to_contain_text("not verified")
    await number.get_by_role("button", name="Verify").click()
    await expect(number.get_by_role("alert")).to_contain_text("6-digit code")
    await number.get_by_role("button", name="Text me a code").click()
    await expect(page.get_by_text("Code sent to +14155550123.")).to_be_visible()
    body = twilio.messages[-1]["Body"]
    code = body.split("code is ")[1][:6]
    wrong = "000000" if code != "000000" else "111111"
    await number.get_by_label("Code for +14155550123").fill(wrong)
    await number.get_by_role("button", name="Verify").click()
    await expect(number.get_by_role("alert")).to_contain_text("attempts left")
    await number.get_by_label("Code for +14155550123").fill(code)
    await number.get_by_role("button", name="Verify").click()
    await expect(number).to_contain_text("verified")
    await number.get_by_role("button", name="Use for my calls").click()
    await expect(number).to_contain_text("Caller ID for your calls")
    await snap(page, "50-twilio")
    assert page.console_errors == []
