from __future__ import annotations

import logging

from sqlalchemy import select

from nova.core.db import session_scope
from nova.models.events import Task
from nova.models.twilio import TwilioNumber, TwilioNumberOtp
from nova.twilio_byo import service
from tests.conftest import register
from tests.twilio_byo.conftest import CREDS, imported, last_code, set_flags, store
from tests.twilio_byo.fake_twilio import ACCOUNT_SID, API_KEY_SECRET

E164 = "+14155550123"


async def _caller(user_id: str):
    async with session_scope() as s:
        return await service.default_caller(s, user_id)


async def test_available_numbers(client, byo_user, twilio, livekit):
    h = byo_user["headers"]
    assert (await client.get("/twilio/numbers/available", headers=h)).status_code == 400
    twilio.add_number(E164)
    twilio.add_number("+14155550999")
    await store(client, h)
    r = await client.get("/twilio/numbers/available", headers=h)
    assert r.status_code == 200
    numbers = {n["phone_number"]: n for n in r.json()["numbers"]}
    assert set(numbers) == {E164, "+14155550999"}
    assert numbers[E164]["capabilities"]["sms"] is True and numbers[E164]["imported"] is False
    await client.post("/twilio/numbers/import", headers=h, json={"phone_number": E164})
    r = await client.get("/twilio/numbers/available", headers=h)
    assert {n["phone_number"]: n["imported"] for n in r.json()["numbers"]}[E164] is True
    twilio.fail("GET", "/IncomingPhoneNumbers.json", 500)
    r = await client.get("/twilio/numbers/available", headers=h)
    assert r.status_code == 502 and "Twilio error (HTTP 500" in r.json()["detail"]


async def test_import_provisions_twilio_and_livekit_trunks(client, byo_user, twilio, livekit):
    h = byo_user["headers"]
    number = await imported(client, h, twilio)
    assert number["phone_number"] == E164 and number["status"] == "pending_verification"
    (trunk,) = twilio.trunks.values()
    assert trunk["domain_name"].endswith(".pstn.twilio.com")
    assert trunk["transfer_mode"] == "enable-all"  # cold transfers to the account's number
    pn_sid = next(iter(twilio.numbers))
    assert (
        trunk["phone_numbers"] == [pn_sid] and twilio.numbers[pn_sid]["trunk_sid"] == trunk["sid"]
    )
    (cl,) = twilio.credential_lists.values()
    assert trunk["credential_lists"] == [cl["sid"]]
    (cred,) = cl["credentials"]
    (req,) = livekit.calls("SIP", "CreateSIPOutboundTrunk")
    assert req.trunk.address == trunk["domain_name"]
    assert list(req.trunk.numbers) == [E164]
    assert req.trunk.auth_username == cred["username"]
    assert req.trunk.auth_password == cred["password"]
    assert len(livekit.outbound_trunks) == 1
    # The SIP password is neither returned nor stored.
    r = await client.get("/twilio/numbers", headers=h)
    assert cred["password"] not in r.text and r.json()["numbers"][0]["id"] == number["id"]
    async with session_scope() as s:
        row = await s.get(TwilioNumber, number["id"])
        assert cred["password"] not in str(row.model_dump())
    # Importing it again (by number or by sid) is a conflict.
    r = await client.post("/twilio/numbers/import", headers=h, json={"phone_number": E164})
    assert r.status_code == 409
    r = await client.post("/twilio/numbers/import", headers=h, json={"sid": pn_sid})
    assert r.status_code == 409
    assert len(twilio.trunks) == 1


async def test_import_by_sid_and_unknown_numbers(client, byo_user, twilio, livekit):
    h = byo_user["headers"]
    pn = twilio.add_number("+442071838750")
    await store(client, h)
    r = await client.post("/twilio/numbers/import", headers=h, json={"sid": pn})
    assert r.status_code == 201 and r.json()["phone_number"] == "+442071838750"
    r = await client.post(
        "/twilio/numbers/import", headers=h, json={"phone_number": "+15005550006"}
    )
    assert r.status_code == 404 and "not found on your Twilio account" in r.json()["detail"]
    r = await client.post("/twilio/numbers/import", headers=h, json={"sid": "PN" + "0" * 32})
    assert r.status_code == 404
    r = await client.post("/twilio/numbers/import", headers=h, json={"phone_number": "12"})
    assert r.status_code == 422
    r = await client.post("/twilio/numbers/import", headers=h, json={})
    assert r.status_code == 422


async def test_import_failures_roll_back_the_twilio_side(client, byo_user, twilio, livekit):
    h = byo_user["headers"]
    twilio.add_number(E164)
    await store(client, h)
    livekit.fail("SIP", "CreateSIPOutboundTrunk", status=503, times=1)
    r = await client.post("/twilio/numbers/import", headers=h, json={"phone_number": E164})
    assert r.status_code == 502 and "LiveKit error" in r.json()["detail"]
    assert twilio.trunks == {} and twilio.credential_lists == {}
    twilio.fail("POST", "/PhoneNumbers", 500)
    r = await client.post("/twilio/numbers/import", headers=h, json={"phone_number": E164})
    assert r.status_code == 502 and r.json()["detail"].startswith("Twilio error (HTTP 500")
    assert twilio.trunks == {} and twilio.credential_lists == {}
    assert (await client.get("/twilio/numbers", headers=h)).json()["numbers"] == []
    r = await client.post("/twilio/numbers/import", headers=h, json={"phone_number": E164})
    assert r.status_code == 201


async def test_import_without_livekit_is_503(client, byo_user, twilio):
    h = byo_user["headers"]
    twilio.add_number(E164)
    await store(client, h)
    r = await client.post("/twilio/numbers/import", headers=h, json={"phone_number": E164})
    assert r.status_code == 503 and "LiveKit" in r.json()["detail"]


async def test_otp_verify_and_default_caller(client, byo_user, twilio, livekit):
    h = byo_user["headers"]
    uid = byo_user["user"]["id"]
    number = await imported(client, h, twilio)
    nid = number["id"]
    r = await client.post(f"/twilio/numbers/{nid}/set-default", headers=h)
    assert r.status_code == 409  # not verified yet
    r = await client.post(f"/twilio/numbers/{nid}/verify", headers=h, json={"code": "123456"})
    assert r.status_code == 400 and "No verification code" in r.json()["detail"]
    r = await client.post(f"/twilio/numbers/{nid}/send-otp", headers=h)
    assert r.status_code == 200, r.text
    assert "code" not in r.json()
    sms = twilio.messages[-1]
    assert sms["To"] == E164 and sms["From"] == E164
    code = last_code(twilio)
    assert len(code) == 6 and code.isdigit()
    async with session_scope() as s:
        otp = (await s.execute(select(TwilioNumberOtp))).scalar_one()
        assert code not in otp.code_hash and len(otp.code_hash) == 64
    wrong = "000000" if code != "000000" else "111111"
    r = await client.post(f"/twilio/numbers/{nid}/verify", headers=h, json={"code": wrong})
    assert r.status_code == 400 and "4 attempts left" in r.json()["detail"]
    r = await client.post(f"/twilio/numbers/{nid}/verify", headers=h, json={"code": code})
    assert r.status_code == 200 and r.json()["status"] == "active"
    assert (await client.post(f"/twilio/numbers/{nid}/send-otp", headers=h)).status_code == 409
    assert await _caller(uid) is None
    r = await client.post(f"/twilio/numbers/{nid}/set-default", headers=h)
    assert r.status_code == 200 and r.json()["is_default"] is True
    trunk_id = next(iter(livekit.outbound_trunks))
    assert await _caller(uid) == (trunk_id, E164)
    await set_flags(uid)  # flag off → no BYO caller ID
    assert await _caller(uid) is None


async def test_otp_sender_setting(client, byo_user, twilio, livekit, settings):
    h = byo_user["headers"]
    nid = (await imported(client, h, twilio))["id"]
    settings.byo_twilio_otp_sender = "MG" + "c" * 32
    assert (await client.post(f"/twilio/numbers/{nid}/send-otp", headers=h)).status_code == 200
    assert twilio.messages[-1]["MessagingServiceSid"] == "MG" + "c" * 32
    settings.byo_twilio_otp_sender = "Nova"
    assert (await client.post(f"/twilio/numbers/{nid}/send-otp", headers=h)).status_code == 200
    assert twilio.messages[-1]["From"] == "Nova"
    twilio.fail("POST", "/Messages.json", 400)
    r = await client.post(f"/twilio/numbers/{nid}/send-otp", headers=h)
    assert r.status_code == 502 and "Twilio error (HTTP 400" in r.json()["detail"]


async def test_otp_send_limits_3_per_10min_and_10_per_day(client, byo_user, twilio, livekit, clock):
    h = byo_user["headers"]
    nid = (await imported(client, h, twilio))["id"]
    url = f"/twilio/numbers/{nid}/send-otp"
    sent = 0
    for _ in range(3):
        assert (await client.post(url, headers=h)).status_code == 200
        sent += 1
        clock.advance(seconds=60)
    r = await client.post(url, headers=h)
    assert r.status_code == 429 and "3 per 10 minutes" in r.json()["detail"]
    assert int(r.headers["Retry-After"]) == 10 * 60 - 3 * 60 + 1
    assert len(twilio.messages) == 3
    clock.advance(seconds=int(r.headers["Retry-After"]))
    for _ in range(7):  # up to 10 in 24 h, pacing to stay under 3 per 10 min
        r = await client.post(url, headers=h)
        assert r.status_code == 200, r.text
        sent += 1
        clock.advance(minutes=4)
    assert sent == 10
    clock.advance(minutes=30)
    r = await client.post(url, headers=h)
    assert r.status_code == 429 and "10 per 24 hours" in r.json()["detail"]
    retry = int(r.headers["Retry-After"])
    assert 0 < retry <= 24 * 3600
    clock.advance(seconds=retry)
    assert (await client.post(url, headers=h)).status_code == 200
    # Limits follow the phone number: deleting and re-importing does not reset them.
    assert (await client.delete(f"/twilio/numbers/{nid}", headers=h)).status_code == 200
    r = await client.post("/twilio/numbers/import", headers=h, json={"phone_number": E164})
    nid2 = r.json()["id"]
    await client.post(f"/twilio/numbers/{nid2}/send-otp", headers=h)
    await client.post(f"/twilio/numbers/{nid2}/send-otp", headers=h)
    r = await client.post(f"/twilio/numbers/{nid2}/send-otp", headers=h)
    assert r.status_code == 429


async def test_otp_expiry_and_attempt_limit(client, byo_user, twilio, livekit, clock):
    h = byo_user["headers"]
    nid = (await imported(client, h, twilio))["id"]
    await client.post(f"/twilio/numbers/{nid}/send-otp", headers=h)
    code = last_code(twilio)
    clock.advance(seconds=601)
    r = await client.post(f"/twilio/numbers/{nid}/verify", headers=h, json={"code": code})
    assert r.status_code == 400 and "expired" in r.json()["detail"]
    await client.post(f"/twilio/numbers/{nid}/send-otp", headers=h)
    code = last_code(twilio)
    wrong = "000000" if code != "000000" else "111111"
    for left in (4, 3, 2, 1, 0):
        r = await client.post(f"/twilio/numbers/{nid}/verify", headers=h, json={"code": wrong})
        assert r.status_code == 400 and f"{left} attempts left" in r.json()["detail"]
    r = await client.post(f"/twilio/numbers/{nid}/verify", headers=h, json={"code": code})
    assert r.status_code == 429
    # A new code replaces the exhausted one.
    await client.post(f"/twilio/numbers/{nid}/send-otp", headers=h)
    r = await client.post(
        f"/twilio/numbers/{nid}/verify", headers=h, json={"code": last_code(twilio)}
    )
    assert r.status_code == 200 and r.json()["status"] == "active"
    r = await client.post(f"/twilio/numbers/{nid}/verify", headers=h, json={"code": "12345"})
    assert r.status_code == 422


async def test_delete_number_tears_down_both_trunks(client, byo_user, twilio, livekit):
    h = byo_user["headers"]
    uid = byo_user["user"]["id"]
    nid = (await imported(client, h, twilio))["id"]
    await client.post(f"/twilio/numbers/{nid}/send-otp", headers=h)
    await client.post(f"/twilio/numbers/{nid}/verify", headers=h, json={"code": last_code(twilio)})
    await client.post(f"/twilio/numbers/{nid}/set-default", headers=h)
    assert await _caller(uid) is not None
    twilio.fail("DELETE", "/v1/Trunks/", 500)
    r = await client.delete(f"/twilio/numbers/{nid}", headers=h)
    assert r.status_code == 502  # nothing changed; can be repeated
    assert len(livekit.outbound_trunks) == 1
    r = await client.delete(f"/twilio/numbers/{nid}", headers=h)
    assert r.status_code == 200 and r.json() == {"id": nid, "status": "revoked"}
    assert twilio.trunks == {} and twilio.credential_lists == {}
    assert livekit.outbound_trunks == {}
    assert await _caller(uid) is None
    assert (await client.delete(f"/twilio/numbers/{nid}", headers=h)).status_code == 404


async def test_livekit_trunk_deletion_retried_in_background(
    client, byo_user, twilio, livekit, pump, clock
):
    h = byo_user["headers"]
    nid = (await imported(client, h, twilio))["id"]
    livekit.fail("SIP", "DeleteSIPTrunk", status=503, times=2)
    assert (await client.delete(f"/twilio/numbers/{nid}", headers=h)).status_code == 200
    assert len(livekit.outbound_trunks) == 1
    await pump.drain()
    assert len(livekit.outbound_trunks) == 1
    clock.advance(seconds=5)
    await pump.drain()
    assert livekit.outbound_trunks == {}
    async with session_scope() as s:
        task = (await s.execute(select(Task))).scalar_one()
        assert task.status == "done" and task.attempts == 2


async def test_delete_credentials_tears_everything_down(client, byo_user, twilio, livekit):
    h = byo_user["headers"]
    await imported(client, h, twilio)
    twilio.add_number("+14155550999")
    r = await client.post(
        "/twilio/numbers/import", headers=h, json={"phone_number": "+14155550999"}
    )
    assert r.status_code == 201
    assert len(twilio.trunks) == 2 and len(livekit.outbound_trunks) == 2
    r = await client.delete("/twilio/credentials", headers=h)
    assert r.status_code == 200
    assert r.json() == {"status": "revoked", "numbers_removed": 2, "twilio_cleanup": "done"}
    assert twilio.trunks == {} and twilio.credential_lists == {} and livekit.outbound_trunks == {}
    assert (await client.get("/twilio/numbers", headers=h)).json()["numbers"] == []
    assert (await client.get("/twilio/credentials", headers=h)).json()["status"] == "not_configured"
    assert (await client.delete("/twilio/credentials", headers=h)).status_code == 404


async def test_delete_credentials_after_key_revoked_at_twilio(client, byo_user, twilio, livekit):
    h = byo_user["headers"]
    await imported(client, h, twilio)
    twilio.api_key_secret = "rotated-at-twilio-000000"  # the stored key no longer works
    r = await client.delete("/twilio/credentials", headers=h)
    assert r.status_code == 200
    assert r.json()["twilio_cleanup"].startswith("skipped")
    assert livekit.outbound_trunks == {}


async def test_switching_accounts_with_numbers_is_409(client, byo_user, twilio, livekit):
    h = byo_user["headers"]
    await imported(client, h, twilio)
    other = {**CREDS, "account_sid": "AC" + "d4" * 16}
    r = await client.post("/twilio/credentials", headers=h, json=other)
    assert r.status_code == 409


async def test_bola_other_accounts_number_is_404(client, byo_user, twilio, livekit):
    h = byo_user["headers"]
    nid = (await imported(client, h, twilio))["id"]
    other = await register(client, "mallory@example.com")
    await set_flags(other["user"]["id"], byo_twilio=True)
    oh = other["headers"]
    await store(client, oh)
    for method, path, body in (
        ("POST", f"/twilio/numbers/{nid}/send-otp", None),
        ("POST", f"/twilio/numbers/{nid}/verify", {"code": "123456"}),
        ("POST", f"/twilio/numbers/{nid}/set-default", None),
        ("DELETE", f"/twilio/numbers/{nid}", None),
    ):
        r = await client.request(method, path, headers=oh, json=body)
        assert r.status_code == 404, (method, path)
    assert (await client.get("/twilio/numbers", headers=oh)).json()["numbers"] == []
    assert twilio.messages == [] and len(twilio.trunks) == 1
    r = await client.post("/twilio/numbers/import", headers=oh, json={"phone_number": E164})
    assert r.status_code == 409  # one SIP path per number


async def test_no_secret_in_any_response_or_log(client, byo_user, twilio, livekit, caplog, pump):
    caplog.set_level(logging.DEBUG)
    h = byo_user["headers"]
    bodies = []
    twilio.add_number(E164)
    for method, path, body in (
        ("POST", "/twilio/credentials", CREDS),
        ("GET", "/twilio/credentials", None),
        ("POST", "/twilio/credentials/validate", None),
        ("GET", "/twilio/numbers/available", None),
        ("POST", "/twilio/numbers/import", {"phone_number": E164}),
        ("GET", "/twilio/numbers", None),
    ):
        r = await client.request(method, path, headers=h, json=body)
        assert r.status_code < 300, (path, r.text)
        bodies.append(r.text)
    nid = r.json()["numbers"][0]["id"]
    r = await client.post(f"/twilio/numbers/{nid}/send-otp", headers=h)
    bodies.append(r.text)
    code = last_code(twilio)
    for fail in ((f"/Accounts/{ACCOUNT_SID}.json", "GET"), ("/Messages.json", "POST")):
        twilio.fail(fail[1], fail[0], 500)
    bodies.append((await client.post("/twilio/credentials/validate", headers=h)).text)
    bodies.append((await client.post(f"/twilio/numbers/{nid}/send-otp", headers=h)).text)
    twilio.api_key_secret = "rotated-at-twilio-000000"
    bodies.append((await client.post("/twilio/credentials/validate", headers=h)).text)
    bodies.append((await client.delete("/twilio/credentials", headers=h)).text)
    await pump.drain()
    sip_password = next(iter(livekit.calls("SIP", "CreateSIPOutboundTrunk"))).trunk.auth_password
    logs = caplog.text + " ".join(str(rec.args) for rec in caplog.records)
    for secret in (API_KEY_SECRET, sip_password, code, ACCOUNT_SID):
        assert all(secret not in b for b in bodies), secret
        assert secret not in logs, secret


async def test_revoke_works_even_when_credentials_cannot_be_decrypted(
    client, byo_user, twilio, livekit, settings
):
    from cryptography.fernet import Fernet
    from pydantic import SecretStr

    h = byo_user["headers"]
    await imported(client, h, twilio)
    settings.encryption_key = SecretStr(Fernet.generate_key().decode())  # old key lost
    r = await client.get("/twilio/numbers/available", headers=h)
    assert r.status_code == 503 and "cannot be decrypted" in r.json()["detail"]
    r = await client.delete("/twilio/credentials", headers=h)
    assert r.status_code == 200
    assert r.json()["twilio_cleanup"] == "skipped: stored credentials cannot be decrypted"
    assert livekit.outbound_trunks == {}
    assert (await client.get("/twilio/credentials", headers=h)).json()["status"] == "not_configured"
