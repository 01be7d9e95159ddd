"""POST /auth/forgot-password and /auth/reset-password, per the reference + DECISIONS.md."""

from __future__ import annotations

import re

from sqlalchemy import select

from nova.core import mailer
from nova.core.db import session_scope
from nova.models.user import PasswordResetCode
from tests.conftest import register

GENERIC = {
    "message": "If an account exists for this email, a 6-digit reset code has been sent. "
    "It is valid for 10 minutes."
}


def _codes_for(email: str) -> list[str]:
    out = []
    for m in mailer.outbox:
        if m.to == email:
            assert m.secret is True
            out.append(re.search(r"\b(\d{6})\b", m.body).group(1))
    return out


async def _forgot(client, email: str):
    r = await client.post("/auth/forgot-password", json={"email": email})
    assert r.status_code == 200, r.text
    assert r.json() == GENERIC
    return r


async def _reset(client, email: str, code: str, new_password: str = "brand-new-pass"):
    return await client.post(
        "/auth/reset-password",
        json={"email": email, "code": code, "new_password": new_password},
    )


def _wrong(code: str) -> str:
    return f"{(int(code) + 1) % 1_000_000:06d}"


async def test_reset_flow_mails_hashed_code_and_old_tokens_stop_working(client, clock):
    mailer.outbox.clear()
    acct = await register(client, "reset@example.com", "old-password")
    await _forgot(client, "  RESET@example.com ")
    [code] = _codes_for("reset@example.com")
    assert re.fullmatch(r"\d{6}", code)

    async with session_scope() as s:
        row = (await s.execute(select(PasswordResetCode))).scalar_one()
    assert code not in row.code_hash and len(row.code_hash) == 64  # keyed HMAC, not the code
    assert (row.expires_at - row.created_at).total_seconds() == 600

    r = await _reset(client, "reset@example.com", code)
    assert r.status_code == 200, r.text

    # The token issued before the reset no longer works; the new password does.
    assert (await client.get("/auth/me", headers=acct["headers"])).status_code == 401
    bad = await client.post(
        "/auth/login", json={"email": "reset@example.com", "password": "old-password"}
    )
    assert bad.status_code == 401
    good = await client.post(
        "/auth/login", json={"email": "reset@example.com", "password": "brand-new-pass"}
    )
    assert good.status_code == 200
    me = await client.get(
        "/auth/me", headers={"Authorization": f"Bearer {good.json()['access_token']}"}
    )
    assert me.status_code == 200
    assert me.json()["email_verified"] is True  # the code proved the mailbox

    # Single use.
    r = await _reset(client, "reset@example.com", code, "another-pass")
    assert r.status_code == 400
    assert r.json() == {"detail": "Invalid or expired reset code"}


async def test_unknown_email_same_generic_answer_and_nothing_sent(client):
    mailer.outbox.clear()
    await register(client, "known@example.com")
    known = await client.post("/auth/forgot-password", json={"email": "known@example.com"})
    unknown = await client.post("/auth/forgot-password", json={"email": "ghost@example.com"})
    assert known.status_code == unknown.status_code == 200
    assert known.content == unknown.content
    assert [m.to for m in mailer.outbox] == ["known@example.com"]
    async with session_scope() as s:
        rows = (await s.execute(select(PasswordResetCode))).scalars().all()
    assert [r.email for r in rows] == ["known@example.com"]
    # No code for the unknown address: any guess is simply invalid.
    assert (await _reset(client, "ghost@example.com", "123456")).status_code == 400


async def test_code_expires_after_ten_minutes(client, clock):
    mailer.outbox.clear()
    await register(client, "exp@example.com")
    await _forgot(client, "exp@example.com")
    [code] = _codes_for("exp@example.com")
    clock.advance(600)
    r = await _reset(client, "exp@example.com", code)
    assert r.status_code == 400
    assert r.json()["detail"] == "Invalid or expired reset code"


async def test_code_still_valid_just_before_expiry(client, clock):
    mailer.outbox.clear()
    await register(client, "edge@example.com")
    await _forgot(client, "edge@example.com")
    [code] = _codes_for("edge@example.com")
    clock.advance(599)
    assert (await _reset(client, "edge@example.com", code)).status_code == 200


async def test_five_attempts_then_429_even_with_the_right_code(client):
    mailer.outbox.clear()
    await register(client, "guess@example.com")
    await _forgot(client, "guess@example.com")
    [code] = _codes_for("guess@example.com")
    wrong = _wrong(code)
    for _ in range(5):
        r = await _reset(client, "guess@example.com", wrong)
        assert r.status_code == 400
    r = await _reset(client, "guess@example.com", code)
    assert r.status_code == 429
    assert "Too many attempts" in r.json()["detail"]
    # The password did not change.
    ok = await client.post(
        "/auth/login", json={"email": "guess@example.com", "password": "a-strong-password"}
    )
    assert ok.status_code == 200
    async with session_scope() as s:
        row = (await s.execute(select(PasswordResetCode))).scalar_one()
    assert row.attempts == 5 and row.used_at is None


async def test_fifth_attempt_may_still_succeed(client):
    mailer.outbox.clear()
    await register(client, "fifth@example.com")
    await _forgot(client, "fifth@example.com")
    [code] = _codes_for("fifth@example.com")
    for _ in range(4):
        assert (await _reset(client, "fifth@example.com", _wrong(code))).status_code == 400
    assert (await _reset(client, "fifth@example.com", code)).status_code == 200


async def test_three_requests_per_hour_then_silently_dropped(client, clock):
    mailer.outbox.clear()
    await register(client, "limit@example.com")
    first = None
    for _ in range(5):
        r = await _forgot(client, "limit@example.com")
        first = first or r.content
        assert r.content == first  # same generic answer, limited or not
        clock.advance(60)
    assert len(_codes_for("limit@example.com")) == 3
    # The window slides: an hour after the first request, one more may be sent.
    clock.advance(3600 - 5 * 60 + 1)
    await _forgot(client, "limit@example.com")
    assert len(_codes_for("limit@example.com")) == 4


async def test_only_the_newest_code_is_live(client):
    mailer.outbox.clear()
    await register(client, "two@example.com")
    await _forgot(client, "two@example.com")
    await _forgot(client, "two@example.com")
    old, new = _codes_for("two@example.com")
    if old != new:
        assert (await _reset(client, "two@example.com", old)).status_code == 400
    assert (await _reset(client, "two@example.com", new)).status_code == 200


async def test_short_password_422_does_not_use_an_attempt(client):
    mailer.outbox.clear()
    await register(client, "short@example.com")
    await _forgot(client, "short@example.com")
    [code] = _codes_for("short@example.com")
    r = await _reset(client, "short@example.com", code, "12345")
    assert r.status_code == 422
    assert "12345" not in r.text
    async with session_scope() as s:
        row = (await s.execute(select(PasswordResetCode))).scalar_one()
    assert row.attempts == 0
    assert (await _reset(client, "short@example.com", code, "123456")).status_code == 200


async def test_reset_bad_bodies_422(client):
    for body in (
        {"email": "x@example.com", "code": "123456"},
        {"email": "not-an-email", "code": "123456", "new_password": "long-enough"},
        {"email": "x@example.com", "code": "1" * 17, "new_password": "long-enough"},
        {"email": "x@example.com", "code": "123456", "new_password": "long-enough", "x": 1},
    ):
        r = await client.post("/auth/reset-password", json=body)
        assert r.status_code == 422, body
    r = await client.post("/auth/forgot-password", json={"email": "nope"})
    assert r.status_code == 422


async def test_reset_code_never_logged(client, caplog):
    mailer.outbox.clear()
    caplog.set_level("DEBUG")
    await register(client, "quiet@example.com")
    await _forgot(client, "quiet@example.com")
    [code] = _codes_for("quiet@example.com")
    await _reset(client, "quiet@example.com", code, "super-secret-new")
    assert code not in caplog.text
    assert "super-secret-new" not in caplog.text
    assert "body withheld" in caplog.text  # the console mailer kept the code out


async def test_reset_code_shown_in_the_log_only_in_development(client, settings, caplog):
    mailer.outbox.clear()
    caplog.set_level("INFO")
    await register(client, "dev@example.com")
    for env in ("production", "development"):
        settings.env = env
        caplog.clear()
        await _forgot(client, "dev@example.com")
        code = _codes_for("dev@example.com")[-1]
        if env == "development":
            assert code in caplog.text and "DEVELOPMENT ONLY" in caplog.text
        else:
            assert code not in caplog.text and "body withheld" in caplog.text
    settings.smtp_host = "127.0.0.1"  # with SMTP configured the log never shows it
    settings.smtp_port = 9  # nothing listens: the send fails, and is logged without the code
    caplog.clear()
    await _forgot(client, "dev@example.com")
    code = _codes_for("dev@example.com")[-1]
    assert code not in caplog.text


async def test_concurrent_requests_cannot_exceed_the_hourly_limit(client):
    import asyncio

    mailer.outbox.clear()
    await register(client, "race@example.com")
    rs = await asyncio.gather(
        *(
            client.post("/auth/forgot-password", json={"email": "race@example.com"})
            for _ in range(8)
        )
    )
    assert {r.status_code for r in rs} == {200}
    assert len(_codes_for("race@example.com")) == 3
    async with session_scope() as s:
        rows = (await s.execute(select(PasswordResetCode))).scalars().all()
    assert len(rows) == 3


async def test_concurrent_guesses_cannot_exceed_five_attempts(client):
    import asyncio

    mailer.outbox.clear()
    await register(client, "burst@example.com")
    await _forgot(client, "burst@example.com")
    [code] = _codes_for("burst@example.com")
    rs = await asyncio.gather(
        *(_reset(client, "burst@example.com", _wrong(code)) for _ in range(9))
    )
    assert sorted(r.status_code for r in rs) == [400] * 5 + [429] * 4
    assert (await _reset(client, "burst@example.com", code)).status_code == 429
