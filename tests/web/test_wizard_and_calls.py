"""The whole first-run path in a real browser: sign up, deploy an agent with the wizard
(against the LiveKit fake), see the call listed, open its brief, and press "Join call":
the token request succeeds and, with no LiveKit media server here, the connection error
is shown clearly."""

from __future__ import annotations

from playwright.async_api import expect

from tests.web.conftest import snap


async def _sign_up(page, email="wizard@example.com"):
    await page.goto("/#/signup")
    await page.get_by_label("Email").fill(email)
    await page.get_by_label("Password").fill("a-strong-password")
    await page.get_by_role("button", name="Create account").click()
    await expect(page.get_by_role("heading", name="Deploy your first agent")).to_be_visible()


async def test_wizard_to_join_call(page, livekit):
    await _sign_up(page)
    # Step 1: product is required.
    await page.get_by_role("button", name="Next").click()
    await expect(page.get_by_role("alert")).to_have_text("Tell us what you are selling.")
    await page.get_by_label("Product").fill("CloudSync CRM")
    await page.get_by_label("Context (optional)").fill("AED 99/seat; main objection is migration")
    await page.get_by_role("button", name="Next").click()
    # Step 2: the goal decides which link is asked for.
    await page.get_by_label("Goal").select_option("book_meeting")
    await expect(page.get_by_label("Booking link")).to_be_visible()
    await page.get_by_role("button", name="Next").click()
    await expect(page.get_by_role("alert")).to_contain_text("booking link")
    await page.get_by_label("Booking link").fill("https://cal.example.com/sam")
    await page.get_by_role("button", name="Next").click()
    # Step 3: leads and consent.
    await page.get_by_label("Lead 1 phone (E.164)").fill("+971501234567")
    await page.get_by_label("Lead 1 name").fill("Sarah")
    await page.get_by_role("button", name="+ Add lead").click()
    await page.get_by_label("Lead 2 phone (E.164)").fill("+971501234568")
    await page.get_by_role("button", name="Deploy agent").click()
    await expect(page.get_by_role("alert")).to_contain_text("permission")
    await page.get_by_label("I confirm I have permission to contact these people.").check()
    await snap(page, "03-wizard-leads")
    await page.get_by_role("button", name="Deploy agent").click()
    await expect(page.get_by_role("heading", name="2 of 2 agents dispatched")).to_be_visible()
    assert len(livekit.calls("AgentDispatchService", "CreateDispatch")) == 2

    # The calls view lists both.
    await page.get_by_role("link", name="See all calls →").click()
    await expect(page.get_by_role("link", name="Sarah")).to_be_visible()
    await expect(page.locator("tbody tr")).to_have_count(2)
    await snap(page, "04-calls")

    # The call page shows the brief (opening line identifies an AI assistant).
    await page.get_by_role("link", name="Sarah").click()
    await expect(page.get_by_role("heading", name="Sarah")).to_be_visible()
    await expect(page.get_by_role("heading", name="Opening line")).to_be_visible()
    await expect(page.locator("blockquote")).to_contain_text("AI")
    await expect(page.get_by_text("Pending: scored after the transcript is saved.")).to_be_visible()

    # Join as the test caller: the token comes back, the media server is unreachable.
    async with page.expect_response(lambda r: r.url.endswith("/token")) as token_info:
        await page.get_by_role("button", name="Join call as test caller").click()
    token_response = await token_info.value
    assert token_response.status == 200
    body = await token_response.json()
    assert body["room_name"].startswith("call-") and body["participant_token"]
    alert = page.locator(".join [role=alert]")
    await expect(alert).to_contain_text("Could not connect to the voice server", timeout=20000)
    await expect(alert).to_contain_text("LiveKit server did not answer")
    await expect(page.get_by_role("button", name="Join call as test caller")).to_be_enabled()
    await snap(page, "05-call-join-error")
    assert page.console_errors == []


async def test_api_error_detail_is_shown_for_invalid_leads(page, livekit):
    await _sign_up(page, "bad-leads@example.com")
    await page.get_by_label("Product").fill("CloudSync CRM")
    await page.get_by_role("button", name="Next").click()
    await page.get_by_role("button", name="Next").click()
    await page.get_by_label("Lead 1 phone (E.164)").fill("0501234567")
    await page.get_by_label("I confirm I have permission to contact these people.").check()
    await page.get_by_role("button", name="Deploy agent").click()
    await expect(page.get_by_role("alert")).to_contain_text("E.164")
    assert livekit.calls("AgentDispatchService", "CreateDispatch") == []


async def test_usage_page_shows_trial_and_plans(page):
    await _sign_up(page, "usage@example.com")
    await page.get_by_role("link", name="Usage & plan").click()
    await expect(page.get_by_text("Free trial")).to_be_visible()
    await expect(page.get_by_text("0 of 10 minutes used")).to_be_visible()
    await expect(page.get_by_role("heading", name="Growth")).to_be_visible()
    await snap(page, "06-usage")
    assert page.console_errors == []
