from __future__ import annotations

import asyncio

from sqlalchemy import select

from nova.core.db import session_scope
from nova.models.billing import ReferralBalance, ReferralPayout
from nova.models.user import User
from tests.billing.conftest import invoice_obj, make_paid, send_event, ts
from tests.conftest import register


async def _code(client, headers) -> dict:
    r = await client.get("/referrals/code", headers=headers)
    assert r.status_code == 200, r.text
    return r.json()


async def _credit(user_id: str, cents: int) -> None:
    async with session_scope() as s:
        s.add(ReferralBalance(user_id=user_id, earned_cents=cents, paid_out_cents=0))


async def test_code_is_created_once_with_rate_and_link(client, settings):
    u = await register(client)
    first = await _code(client, u["headers"])
    assert len(first["code"]) == 8 and first["code"].isalnum()
    assert first["commission_rate"] == 0.2
    assert first["share_url"] == f"http://testserver/register?ref={first['code']}"
    assert await _code(client, u["headers"]) == first
    settings.referral_share_base_url = "https://novalabs.ae"
    assert (await _code(client, u["headers"]))["share_url"].startswith("https://novalabs.ae/")
    for path in ("/referrals/code", "/referrals/stats", "/referrals/list", "/referrals/payouts"):
        assert (await client.get(path)).status_code == 401


async def test_referral_commission_once_per_invoice_for_twelve_months(
    client, clock, pump, webhook_secret
):
    referrer = await register(client, "ref@example.com")
    code = (await _code(client, referrer["headers"]))["code"]
    friend = await register(client, "friend@example.com", referral_code=code)
    idle = await register(client, "idle@example.com", referral_code=code)
    await register(client, "stranger@example.com", referral_code="NOSUCHCODE")
    async with session_scope() as s:
        f = await s.get(User, friend["user"]["id"])
        assert f.referred_by_id == referrer["user"]["id"]

    fid = friend["user"]["id"]
    await make_paid(client, fid, plan="growth", sub_id="sub_f", customer="cus_f")
    inv = invoice_obj("in_f1", customer="cus_f", sub_id="sub_f", amount=9900, plan="growth")
    assert (await send_event(client, "invoice.paid", inv)).status_code == 200
    await pump.drain()
    # The same invoice again (a new event id: Stripe resends, or invoice.paid twice).
    assert (await send_event(client, "invoice.paid", inv)).status_code == 200
    await pump.drain()

    earnings = (await client.get("/referrals/earnings", headers=referrer["headers"])).json()
    assert earnings["total"] == 1 and earnings["total_cents"] == 1980
    (e,) = earnings["items"]
    assert (e["invoice_id"], e["invoice_amount_cents"], e["amount_cents"]) == ("in_f1", 9900, 1980)
    assert e["commission_rate"] == 0.2 and e["referred_email"] == "f***@example.com"

    stats = (await client.get("/referrals/stats", headers=referrer["headers"])).json()
    assert stats == {
        "referrals": 2,
        "pending_signups": 1,
        "conversions": 1,
        "total_earnings_cents": 1980,
        "available_balance_cents": 1980,
        "paid_out_cents": 0,
        "commission_rate": 0.2,
    }
    listing = (await client.get("/referrals/list", headers=referrer["headers"])).json()
    assert listing["total"] == 2
    by_status = {i["status"]: i for i in listing["items"]}
    assert by_status["converted"]["id"] == fid and by_status["converted"]["earnings_cents"] == 1980
    assert by_status["signed_up"]["id"] == idle["user"]["id"]
    assert by_status["signed_up"]["earnings_cents"] == 0
    page = (
        await client.get("/referrals/list?limit=1&offset=1", headers=referrer["headers"])
    ).json()
    assert len(page["items"]) == 1 and page["offset"] == 1 and page["total"] == 2
    r = await client.get("/referrals/list?limit=0", headers=referrer["headers"])
    assert r.status_code == 422

    # Month 11 after the first paid invoice: still earns. Month 13: no more commission.
    # (The window is judged on when Stripe says the invoice was paid: the event time.)
    day = 86400
    inv11 = invoice_obj("in_f11", customer="cus_f", sub_id="sub_f", amount=9900)
    await send_event(client, "invoice.paid", inv11, created=ts(334 * day))
    inv13 = invoice_obj("in_f13", customer="cus_f", sub_id="sub_f", amount=9900)
    inv13["status_transitions"] = {"paid_at": ts(396 * day)}
    await send_event(client, "invoice.paid", inv13, created=ts(396 * day))
    await pump.drain()
    earnings = (await client.get("/referrals/earnings", headers=referrer["headers"])).json()
    assert sorted(i["invoice_id"] for i in earnings["items"]) == ["in_f1", "in_f11"]
    assert earnings["total_cents"] == 3960


async def test_payout_rules(client):
    u = await register(client)
    uid = u["user"]["id"]
    r = await client.post(
        "/referrals/payout",
        json={"amount_cents": 5000, "method": "bank_transfer"},
        headers=u["headers"],
    )
    assert r.status_code == 400
    assert r.json() == {"detail": "Payout exceeds your available balance (0 cents available)"}
    await _credit(uid, 12_000)
    r = await client.post(
        "/referrals/payout",
        json={"amount_cents": 4999, "method": "bank_transfer"},
        headers=u["headers"],
    )
    assert r.status_code == 400 and r.json() == {"detail": "The minimum payout is 5000 cents"}
    r = await client.post(
        "/referrals/payout", json={"amount_cents": -1, "method": "paypal"}, headers=u["headers"]
    )
    assert r.status_code == 422
    r = await client.post(
        "/referrals/payout", json={"amount_cents": 5000, "method": ""}, headers=u["headers"]
    )
    assert r.status_code == 422

    r = await client.post(
        "/referrals/payout", json={"amount_cents": 7000, "method": "paypal"}, headers=u["headers"]
    )
    assert r.status_code == 201, r.text
    assert (r.json()["amount_cents"], r.json()["status"], r.json()["method"]) == (
        7000,
        "pending",
        "paypal",
    )
    r = await client.post(
        "/referrals/payout", json={"amount_cents": 5001, "method": "paypal"}, headers=u["headers"]
    )
    assert r.status_code == 400 and "5000 cents available" in r.json()["detail"]
    r = await client.post(
        "/referrals/payout", json={"amount_cents": 5000, "method": "paypal"}, headers=u["headers"]
    )
    assert r.status_code == 201
    history = (await client.get("/referrals/payouts", headers=u["headers"])).json()
    assert history["total"] == 2 and history["available_balance_cents"] == 0
    assert sorted(p["amount_cents"] for p in history["items"]) == [5000, 7000]
    stats = (await client.get("/referrals/stats", headers=u["headers"])).json()
    assert (stats["paid_out_cents"], stats["available_balance_cents"]) == (12_000, 0)


async def test_concurrent_payouts_never_overdraw(client):
    u = await register(client)
    uid = u["user"]["id"]
    await _credit(uid, 23_000)  # room for four payouts of 5000 (20 000), not five

    async def pay() -> int:
        r = await client.post(
            "/referrals/payout",
            json={"amount_cents": 5000, "method": "bank_transfer"},
            headers=u["headers"],
        )
        assert r.status_code in (201, 400), r.text
        return r.status_code

    codes = await asyncio.gather(*(pay() for _ in range(8)))
    assert codes.count(201) == 4 and codes.count(400) == 4
    async with session_scope() as s:
        bal = await s.get(ReferralBalance, uid)
        assert (bal.earned_cents, bal.paid_out_cents) == (23_000, 20_000)
        rows = (await s.execute(select(ReferralPayout))).scalars().all()
        assert sum(p.amount_cents for p in rows) == 20_000
