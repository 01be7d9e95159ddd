"""The call records in Chromium: the dashboard's charts (Chart.js, bundled) under the app's
CSP, and a call page with its transcript, latency and analysis. Screenshots are kept as
test artifacts (records-dashboard.png, records-call.png)."""

from __future__ import annotations

import json
from datetime import timedelta

from playwright.async_api import expect

from nova.core import clock
from tests.conftest import register
from tests.quality.helpers import judgement
from tests.records.helpers import METRICS, finish
from tests.telephony.factories import create_call
from tests.web.conftest import snap

SCHEMA = {
    "properties": {
        "budget": {"type": "number"},
        "decision_maker": {"type": "boolean"},
        "next_step": {"type": "string", "enum": ["viewing", "callback", "none"]},
    }
}


def slower(factor: float) -> dict:
    return {
        **METRICS,
        "samples": {k: [v * factor for v in vs] for k, vs in METRICS["samples"].items()},
    }


async def test_dashboard_and_call_records(page, client, live_server, settings, openai_fake, pump):
    settings.analytics_rollup_window_seconds = 0
    answer = {"budget": 1200000, "decision_maker": False, "next_step": "callback"}
    scores = iter(range(100))
    openai_fake.chat = lambda body: (
        json.dumps(answer)
        if (body.get("response_format") or {}).get("json_schema", {}).get("name") == "call_analysis"
        else json.dumps(judgement(overall=60 + next(scores) % 35))
    )
    user = await register(client, "dash@example.com")
    r = await client.put(
        "/v1/records/settings", json={"analysis_schema": SCHEMA}, headers=user["headers"]
    )
    assert r.status_code == 200
    uid = user["user"]["id"]
    now = clock.now()
    outcomes = ["qualified", "meeting_booked", "no_answer", "not_interested", "callback_requested"]
    n, last = 0, None
    for days_ago, count in [(5, 3), (4, 4), (3, 2), (2, 5), (1, 4), (0, 3)]:
        for i in range(count):
            n += 1
            call = await create_call(
                user_id=uid,
                goal="book_meeting" if i % 2 == 0 else "qualify_interest",
                created_at=now - timedelta(days=days_ago, minutes=i),
            )
            outcome = outcomes[n % len(outcomes)]
            await finish(
                client,
                clock,
                call.id,
                outcome=outcome,
                duration=0 if outcome == "no_answer" else 60 + 15 * i,
                goal_completed=outcome in ("qualified", "meeting_booked"),
                metrics=slower(2.0 if days_ago <= 1 else 1.0),
            )
            last = call
    await pump.drain()

    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    await page.goto("/")
    await page.evaluate("t => localStorage.setItem('nova.token', t)", user["token"])
    await page.goto("/#/dashboard")
    await expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    totals = page.get_by_label("Totals for the period")
    await expect(totals).to_contain_text("Calls21")
    await expect(totals).to_contain_text("Minutes")
    await expect(page.locator("tbody tr").first).to_contain_text("book meeting")
    # Both charts drew something on their canvases.
    for name in ("Calls per day", "Latency"):
        canvas = page.get_by_role("img", name=name)
        await expect(canvas).to_be_visible()
        painted = await canvas.evaluate(
            "c => { const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;"
            " let n = 0; for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; }"
        )
        assert painted > 1000, (name, painted)
    await snap(page, "records-dashboard")

    # Filter on one goal: the figures follow.
    await page.get_by_label("Goal", exact=True).select_option("qualify_interest")
    await expect(totals).to_contain_text("Calls9")

    await page.goto(f"/#/calls/{last.id}")
    await expect(page.get_by_role("heading", name="Transcript")).to_be_visible()
    await expect(page.locator(".turns li")).to_have_count(4)
    await expect(page.locator(".turns .cut")).to_have_count(1)
    await expect(page.locator(".turns li").first).to_contain_text("0:00.0–0:02.4")
    await expect(page.get_by_text("LLM first token")).to_be_visible()
    await expect(page.locator(".figure").filter(has_text="LLM first token")).to_contain_text(
        "620 ms"
    )
    await expect(page.get_by_text("next step")).to_be_visible()
    await expect(page.locator(".facts").last).to_contain_text("callback")
    await snap(page, "records-call")
    assert page.console_errors == [] and errors == [], errors
