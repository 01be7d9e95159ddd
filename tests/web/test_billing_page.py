"""Subscribing and managing a plan in Chromium. Stripe's API is the billing tests' local
fake (driven by the real stripe SDK on the server); Stripe.js is a local stand-in
(fake_stripe.js) served from another origin, as js.stripe.com would be, so the page's CSP
must allow exactly that origin. Ziina's hosted page is intercepted at the browser."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web
from playwright.async_api import expect

from tests.billing.conftest import send_event, sub_obj
from tests.fakes.base import LoopbackServer
from tests.web.conftest import sign_up, snap

FAKE_JS = Path(__file__).with_name("fake_stripe.js")


class StripeJsHost(LoopbackServer):
    def build_app(self) -> web.Application:
        app = web.Application()

        async def script(_request: web.Request) -> web.Response:
            return web.Response(text=FAKE_JS.read_text(), content_type="application/javascript")

        app.router.add_get("/v3/", script)
        return app


async def test_subscribe_by_card_confirms_with_the_client_secret(
    page, settings, stripe_fake, client
):
    async with StripeJsHost() as host:
        js_url = f"http://127.0.0.1:{host.port}/v3/"
        settings.stripe_publishable_key = "pk_test_nova_web"
        settings.stripe_js_url = js_url
        await sign_up(page, "payer@example.com")
        csp = (await page.request.get("/")).headers["content-security-policy"]
        await page.goto("/#/usage")
        assert f"script-src 'self' http://127.0.0.1:{host.port};" in csp
        assert f"frame-src http://127.0.0.1:{host.port}" in csp
        await (
            page.locator("article[data-plan=growth]")
            .get_by_role("button", name="Choose Growth")
            .click()
        )
        card = page.get_by_label("Card number")
        await expect(card).to_be_visible()
        assert await page.evaluate("window.__fakeStripe.keys") == ["pk_test_nova_web"]

        # A declined card: Stripe's message, and nothing was subscribed.
        await card.fill("4000000000000002")
        await page.get_by_role("button", name="Pay $99/mo by card").click()
        await expect(page.locator("#checkout [role=alert]")).to_have_text("Your card was declined.")
        assert stripe_fake.subscriptions == {}

        await card.fill("4242 4242 4242 4242")
        await page.get_by_role("button", name="Pay $99/mo by card").click()
        await expect(page.get_by_text("Payment confirmed. Your Growth plan starts")).to_be_visible()
        [sub_id] = stripe_fake.subscriptions
        # The page confirmed the payment with the client_secret the API returned.
        [secret] = await page.evaluate("window.__fakeStripe.confirmed")
        assert secret.startswith("pi_in_") and "_secret_" in secret
        await snap(page, "40-billing-card-confirmed")

        # Stripe tells Nova the subscription is active: the page notices by itself.
        sub = stripe_fake.subscriptions[sub_id]
        me = (
            await client.post(
                "/auth/login", json={"email": "payer@example.com", "password": "a-strong-password"}
            )
        ).json()
        r = await send_event(
            client,
            "customer.subscription.updated",
            sub_obj(
                sub_id,
                customer=sub["customer"],
                status="active",
                plan="growth",
                user_id=me["user"]["id"],
            ),
        )
        assert r.status_code == 200, r.text
        await expect(
            page.locator("article[data-plan=growth]").get_by_text("Your plan")
        ).to_be_visible(timeout=15000)
        await expect(page.locator("#subscription")).to_contain_text(
            "Growth plan · active · Renews on"
        )

        # Manage: cancel at period end.
        page.on("dialog", lambda d: d.accept())
        await page.get_by_role("button", name="Cancel plan").click()
        await expect(page.locator("#subscription")).to_contain_text("Cancels on")
        await expect(page.get_by_role("button", name="Cancel plan")).to_have_count(0)
        await snap(page, "41-billing-managed")
        assert page.console_errors == []


async def test_no_card_form_without_stripe_and_ziina_redirect(page, settings, ziina_fake):
    settings.stripe_publishable_key = None
    await sign_up(page, "aed@example.com")
    csp = (await page.request.get("/")).headers["content-security-policy"]
    assert "frame-src" not in csp and "script-src 'self';" in csp  # as strict as ever
    await page.goto("/#/usage")
    await (
        page.locator("article[data-plan=starter]")
        .get_by_role("button", name="Choose Starter")
        .click()
    )
    await expect(page.get_by_text("Card payments are not set up on this server")).to_be_visible()

    # Ziina down: its error is shown, nobody is sent anywhere.
    ziina_fake.fail_status = 500
    await page.get_by_role("button", name="Pay AED 107 with Ziina").click()
    await expect(page.locator("#checkout [role=alert]")).to_be_visible()
    assert page.url.endswith("#/usage")

    ziina_fake.fail_status = None
    await page.route(
        "https://pay.ziina.com/**",
        lambda route: route.fulfill(status=200, content_type="text/html", body="<h1>Ziina</h1>"),
    )
    await page.get_by_role("button", name="Pay AED 107 with Ziina").click()
    await page.wait_for_url("https://pay.ziina.com/payment_intent/*")
    sent = ziina_fake.recorded[-1]["body"]
    assert sent["amount"] == 10700 and sent["success_url"].endswith("/#/usage?payment=success")

    # Ziina sends the payer back to the plan page.
    await page.goto(sent["success_url"])
    await expect(page.get_by_text("Thank you: Ziina took your payment.")).to_be_visible()
    await snap(page, "42-billing-ziina-return")
    assert page.console_errors == []
