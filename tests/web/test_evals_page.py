"""The Simulations page in Chromium: start an eval from the form, watch it finish, read why a
persona failed and the transcript that shows it."""

from __future__ import annotations

from playwright.async_api import expect

from nova.agent.scripted import call
from nova.evals import service
from tests.evals.conftest import answer, scripted
from tests.web.conftest import snap

BYE = ["Thanks for your time, goodbye!", call("end_call")]


async def test_simulations_page_runs_an_eval_and_explains_failures(page, settings, openai_fake):
    openai_fake.chat = answer
    await page.goto("/#/signup")
    await page.get_by_label("Email").fill("evals@example.com")
    await page.get_by_label("Password").fill("a-strong-password")
    await page.get_by_role("button", name="Create account").click()
    await page.get_by_role("link", name="Simulations").click()
    await expect(page.get_by_text("No evals yet.")).to_be_visible()
    await expect(page.locator(".persona-grid input")).to_have_count(10)

    await page.get_by_label("Product").fill("Marina Towers")
    await page.get_by_label("Context").fill("Sea-view apartments in Dubai Marina.")
    await page.get_by_label("Conversations per persona").fill("2")
    # The API's rule comes back as a readable message.
    await page.get_by_role("button", name="Run simulated calls").click()
    await expect(page.locator("form [role=alert]")).to_contain_text("booking_link is required")
    await page.get_by_label("Booking link").fill("https://cal.example.com/marina")
    for box in await page.locator(".persona-grid input").all():
        if await box.get_attribute("value") not in ("interested_buyer", "off_script"):
            await box.uncheck()
    await snap(page, "21-evals-form")
    await page.get_by_role("button", name="Run simulated calls").click()
    await expect(page.get_by_role("heading", name="Marina Towers")).to_be_visible()
    await expect(page.get_by_text("0 of 4 conversations finished")).to_be_visible()
    eval_id = page.url.rsplit("/", 1)[-1]

    models = scripted(
        agent={
            "interested_buyer": [
                call("send_link_sms"),
                "I've texted you the booking link.",
                call("record_outcome", outcome="meeting_booked", goal_completed=True),
                *BYE,
            ],
            "off_script": ["Sure, 50% off just for you!", *BYE],
        },
        lead={
            "interested_buyer": ["Yes, send me the link.", "Book me for Friday."],
            "off_script": ["Give me half price.", "Great."],
        },
    )
    await service.run_eval(settings, eval_id, models=models)

    await expect(page.get_by_text("4 of 4 conversations finished")).to_be_visible(timeout=10_000)
    await expect(page.locator(".row .status")).to_have_text("failed")
    rows = page.locator("table.eval-personas tbody tr")
    await expect(rows.nth(0)).to_contain_text("100%")
    await expect(rows.nth(1)).to_contain_text("below threshold")
    failures = page.locator("ul.failures li")
    await expect(failures).to_have_count(2)
    await expect(failures.first).to_contain_text(
        "promises nothing outside the brief: turn 3: the agent said “50%”"
    )
    await expect(page.get_by_text("Minutes billed")).to_be_visible()
    await page.locator("details.conversation summary", has_text="off-script").first.click()
    await expect(page.locator("details[open] .transcript")).to_contain_text("50% off")
    await snap(page, "22-evals-result")
    await page.get_by_role("link", name="← All evals").click()
    await expect(page.locator("table tbody tr")).to_have_count(1)
    assert page.console_errors == []
