from __future__ import annotations

from sqlalchemy import select

from nova.core.db import session_scope
from nova.models.twilio import TwilioCredential
from tests.twilio_byo.conftest import CREDS, set_flags, store
from tests.twilio_byo.fake_twilio import ACCOUNT_SID, API_KEY_SECRET, API_KEY_SID

ENDPOINTS = [
    ("POST", "/twilio/credentials", CREDS),
    ("POST", "/twilio/credentials/validate", None),
    ("GET", "/twilio/credentials", None),
    ("DELETE", "/twilio/credentials", None),
    ("GET", "/twilio/numbers/available", None),
    ("POST", "/twilio/numbers/import", {"phone_number": "+14155550123"}),
    ("POST", "/twilio/numbers/x/send-otp", None),
    ("POST", "/twilio/numbers/x/verify", {"code": "123456"}),
    ("POST", "/twilio/numbers/x/set-default", None),
    ("GET", "/twilio/numbers", None),
    ("DELETE", "/twilio/numbers/x", None),
]


async def test_flag_off_is_404_everywhere(client, user, twilio):
    for method, path, body in ENDPOINTS:
        r = await client.request(method, path, headers=user["headers"], json=body)
        assert r.status_code == 404, (method, path, r.text)
    # Even an invalid body answers 404 while the flag is off.
    r = await client.post("/twilio/credentials", headers=user["headers"], json={"x": 1})
    assert r.status_code == 404
    await set_flags(user["user"]["id"], voice_cloning=True)  # the other flag does not help
    r = await client.get("/twilio/credentials", headers=user["headers"])
    assert r.status_code == 404


async def test_store_returns_status_and_last4_only(client, byo_user, twilio):
    h = byo_user["headers"]
    r = await client.get("/twilio/credentials", headers=h)
    assert r.json()["status"] == "not_configured" and r.json()["sid_last4"] is None
    body = await store(client, h)
    assert body["status"] == "stored" and body["sid_last4"] == ACCOUNT_SID[-4:]
    assert set(body) == {"status", "sid_last4", "validated_at", "updated_at"}
    r = await client.get("/twilio/credentials", headers=h)
    assert r.json()["sid_last4"] == "9f3e"
    for text in (r.text, str(body)):
        assert API_KEY_SECRET not in text and ACCOUNT_SID not in text and API_KEY_SID not in text
    async with session_scope() as s:
        row = (await s.execute(select(TwilioCredential))).scalar_one()
        assert API_KEY_SECRET not in row.encrypted and ACCOUNT_SID not in row.encrypted
    # Replace (key rotation on the same account).
    body = await store(client, h, api_key_secret="another-secret-value-123")
    assert body["status"] == "stored"
    async with session_scope() as s:
        assert len((await s.execute(select(TwilioCredential))).scalars().all()) == 1


async def test_bad_credentials_body_422_without_echo(client, byo_user, twilio):
    h = byo_user["headers"]
    r = await client.post("/twilio/credentials", headers=h, json={**CREDS, "account_sid": "nope"})
    assert r.status_code == 422
    assert API_KEY_SECRET not in r.text
    r = await client.post(
        "/twilio/credentials", headers=h, json={**CREDS, "api_key_secret": "Qx7zz!"}
    )
    assert r.status_code == 422 and "Qx7zz!" not in r.text


async def test_missing_encryption_key_is_a_clear_503(client, byo_user, twilio, settings):
    settings.encryption_key = None
    r = await client.post("/twilio/credentials", headers=byo_user["headers"], json=CREDS)
    assert r.status_code == 503
    assert "NOVA_ENCRYPTION_KEY" in r.json()["detail"]


async def test_validate_live_against_twilio(client, byo_user, twilio):
    h = byo_user["headers"]
    assert (await client.post("/twilio/credentials/validate", headers=h)).status_code == 404
    await store(client, h)
    r = await client.post("/twilio/credentials/validate", headers=h)
    assert r.status_code == 200, r.text
    assert r.json()["valid"] is True and r.json()["status"] == "valid"
    seen = twilio.calls("GET", f"/Accounts/{ACCOUNT_SID}.json")[-1]
    assert seen.auth == (API_KEY_SID, API_KEY_SECRET)
    assert (await client.get("/twilio/credentials", headers=h)).json()["status"] == "valid"
    # Wrong secret: Twilio answers 401 → invalid (a 200 with valid=false, not a 502).
    await store(client, h, api_key_secret="wrong-secret-wrong-secret")
    r = await client.post("/twilio/credentials/validate", headers=h)
    assert r.status_code == 200
    assert r.json()["valid"] is False and r.json()["status"] == "invalid"
    assert "HTTP 401" in r.json()["detail"]
    # Twilio down → 502 with a clear detail.
    await store(client, h)
    twilio.fail("GET", f"/Accounts/{ACCOUNT_SID}.json", 503)
    r = await client.post("/twilio/credentials/validate", headers=h)
    assert r.status_code == 502
    assert r.json()["detail"].startswith("Twilio error (HTTP 503")
    assert API_KEY_SECRET not in r.text


async def test_unreachable_twilio_is_502(client, byo_user, twilio, settings):
    await store(client, byo_user["headers"])
    settings.byo_twilio_api_base = "http://127.0.0.1:9"  # nothing listens on discard
    r = await client.post("/twilio/credentials/validate", headers=byo_user["headers"])
    assert r.status_code == 502 and "unreachable" in r.json()["detail"]
