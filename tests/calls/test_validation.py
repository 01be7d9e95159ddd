"""Every 400/401/402/422/429 path of POST /calls."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from nova.core.db import session_scope
from nova.models.calls import Call
from tests.calls.conftest import leads, payload
from tests.conftest import register


async def _count_calls() -> int:
    async with session_scope() as s:
        return int(await s.scalar(select(func.count()).select_from(Call)) or 0)


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (payload(consent=False), "consent must be true"),
        ({k: v for k, v in payload().items() if k != "consent"}, "consent is required"),
        (payload(consent="yes"), "consent must be the boolean true"),
        (payload(leads=[]), "leads must contain at least one lead"),
        ({k: v for k, v in payload().items() if k != "leads"}, "leads is required"),
        (payload(leads="+971501234567"), "leads must be an array"),
        (payload(leads=leads(5) + [{"phone": "+971501234599"}]), "at most 5 per batch, got 6"),
        (payload(leads=[{"phone": "0501234567"}]), "leads[0].phone '0501234567' is not in E.164"),
        (payload(leads=[{"phone": "+971 50 123 4567"}]), "is not in E.164 format"),
        (payload(leads=[{"phone": "+9710000000"}]), "'+9710000000' is not a valid phone number"),
        (payload(leads=[{"name": "x"}]), "leads[0].phone is required"),
        (
            payload(leads=[{"phone": "+971501234567"}, {"phone": "+971501234567"}]),
            "Duplicate phone: leads[1].phone +971501234567 is already used by leads[0]",
        ),
        (payload(goal="book_meeting"), "booking_link is required when goal is book_meeting"),
        (payload(goal="close_sale"), "payment_link is required when goal is close_sale"),
        (
            payload(goal="book_meeting", booking_link="javascript:alert(1)"),
            "booking_link must be a public http(s) URL",
        ),
        (payload(goal="sell_stuff"), "goal must be one of: book_meeting, qualify_interest"),
        ({k: v for k, v in payload().items() if k != "goal"}, "goal is required"),
        (payload(language="fr"), "language must be 'en' or 'ar-AE'"),
        ({k: v for k, v in payload().items() if k != "product"}, "product is required"),
        ({k: v for k, v in payload().items() if k != "owner_email"}, "owner_email is required"),
        (payload(owner_email="not-an-email"), "owner_email is not a valid email address"),
        (payload(product="x" * 501), "product is too long (at most 500 characters)"),
        ([payload()], "Request body must be a JSON object"),
    ],
)
async def test_each_rule_is_a_precise_400(client, livekit, body, detail):
    r = await client.post("/calls", json=body)
    assert r.status_code == 400, r.text
    assert detail in r.json()["detail"]
    assert not livekit.calls("AgentDispatchService", "CreateDispatch")
    assert await _count_calls() == 0


async def test_several_missing_fields_are_all_named(client):
    r = await client.post("/calls", json={"consent": True})
    assert r.status_code == 400
    detail = r.json()["detail"]
    for field in ("owner_email", "leads", "product", "goal"):
        assert f"{field} is required" in detail


async def test_a_lead_with_two_problems_reports_both(client, livekit):
    body = payload(
        leads=[
            {"phone": "0501234567", "email": "not-an-email"},
            {"phone": "+971501234568"},
            {"phone": "+9710000000"},
        ]
    )
    r = await client.post("/calls", json=body)
    assert r.status_code == 400
    detail = r.json()["detail"]
    assert "leads[0].phone '0501234567' is not in E.164" in detail
    assert "leads[0].email is not a valid email address" in detail
    assert "leads[2].phone '+9710000000' is not a valid phone number" in detail
    assert "leads[1]" not in detail
    assert await _count_calls() == 0


async def test_body_that_is_not_json_is_422(client):
    r = await client.post(
        "/calls", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert r.status_code == 422
    assert r.json()["detail"] == "Request body must be valid JSON"


async def test_auth_gate_401_without_token(client, settings, livekit):
    settings.feature_calls_auth_required = True
    r = await client.post("/calls", json=payload())
    assert r.status_code == 401
    assert "Authentication required" in r.json()["detail"]
    assert r.headers["www-authenticate"] == "Bearer"
    assert await _count_calls() == 0


async def test_auth_gate_lets_a_bearer_through(client, settings, livekit, user):
    settings.feature_calls_auth_required = True
    r = await client.post("/calls", json=payload(), headers=user["headers"])
    assert r.status_code == 200, r.text
    assert r.json()["dispatched"] == 1


async def test_invalid_token_is_401_even_with_the_gate_off(client, livekit):
    r = await client.post("/calls", json=payload(), headers={"Authorization": "Bearer nope"})
    assert r.status_code == 401
    assert await _count_calls() == 0


async def test_402_when_the_batch_needs_more_minutes_than_left(client, settings, livekit):
    u = await register(client, "poor@example.com")
    settings.reserve_minutes_per_call = 3  # 5 leads x 3 min = 15 > 10 trial minutes
    r = await client.post("/calls", json=payload(leads=leads(5)), headers=u["headers"])
    assert r.status_code == 402, r.text
    assert "Minute limit would be exceeded" in r.json()["detail"]
    assert not livekit.calls("AgentDispatchService", "CreateDispatch")
    assert await _count_calls() == 0
    # A batch that fits still goes through (nothing was held by the refused one).
    r = await client.post("/calls", json=payload(leads=leads(3)), headers=u["headers"])
    assert r.status_code == 200, r.text
    assert r.json()["dispatched"] == 3


async def test_402_when_the_trial_has_ended(client, clock, settings, livekit):
    settings.jwt_ttl_seconds = 30 * 24 * 3600  # the token outlives the 7-day trial
    u = await register(client, "late@example.com")
    clock.advance(days=8)
    r = await client.post("/calls", json=payload(), headers=u["headers"])
    assert r.status_code == 402
    assert "trial has ended" in r.json()["detail"]


async def test_429_after_five_submissions_per_ip(client, clock):
    for _ in range(5):
        r = await client.post("/calls", json=payload(consent=False))
        assert r.status_code == 400
    r = await client.post("/calls", json=payload())
    assert r.status_code == 429
    assert r.json()["detail"] == "Rate limit exceeded. Max 5 requests per 60 seconds."
    assert 1 <= int(r.headers["retry-after"]) <= 60
    clock.advance(seconds=60)
    r = await client.post("/calls", json=payload(consent=False))
    assert r.status_code == 400


async def test_rate_limit_is_per_client_ip(app, client, clock):
    import httpx

    for _ in range(5):
        await client.post("/calls", json=payload(consent=False))
    assert (await client.post("/calls", json=payload(consent=False))).status_code == 429
    other = httpx.ASGITransport(app=app, client=("198.51.100.7", 1234))
    async with httpx.AsyncClient(transport=other, base_url="http://testserver") as c2:
        assert (await c2.post("/calls", json=payload(consent=False))).status_code == 400


async def test_402_is_answered_before_any_llm_spend(client, settings, livekit, openai_fake):
    u = await register(client, "nollm@example.com")
    settings.reserve_minutes_per_call = 11
    r = await client.post("/calls", json=payload(), headers=u["headers"])
    assert r.status_code == 402
    assert openai_fake.requests == []
