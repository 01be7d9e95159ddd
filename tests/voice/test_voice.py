from __future__ import annotations

import logging

from sqlalchemy import func, select

from nova.core.db import session_scope
from nova.models.events import Task
from nova.models.voice import VoiceConsent, VoiceProfile, VoiceSample
from nova.voice import service
from tests.conftest import register
from tests.voice.conftest import WAV, enroll, set_user, sign
from tests.voice.fake_provider import MP3


async def _ready_profile(client, headers, pump) -> str:
    await sign(client, headers)
    r = await enroll(client, headers)
    assert r.status_code == 202, r.text
    pid = r.json()["profile_id"]
    await pump.drain()
    r = await client.get(f"/voice/status/{pid}", headers=headers)
    assert r.json()["status"] == "ready", r.text
    return pid


async def test_flag_off_is_404_everywhere(client, user):
    h = user["headers"]
    calls = [
        ("GET", "/voice/consent", None),
        ("POST", "/voice/consent", {"version": "x", "typed_name": "Ada L"}),
        ("GET", "/voice/status/abc", None),
        ("POST", "/voice/preview/abc", {"text": "hi"}),
        ("POST", "/voice/activate/abc", None),
        ("GET", "/voice/profiles", None),
        ("DELETE", "/voice/abc", None),
    ]
    for method, path, body in calls:
        r = await client.request(method, path, headers=h, json=body)
        assert r.status_code == 404, (method, path, r.text)
    r = await client.post("/voice/enroll", headers=h, files={"audio": ("a.wav", WAV, "audio/wav")})
    assert r.status_code == 404


async def test_consent_versioning(client, voice_user):
    h = voice_user["headers"]
    r = await client.get("/voice/consent", headers=h)
    body = r.json()
    assert body["version"] == service.CURRENT_CONSENT_VERSION
    assert "consent" in body["text"].lower() and body["signed_version"] is None
    r = await client.post(
        "/voice/consent", headers=h, json={"version": "2020-01-01", "typed_name": "Ada Lovelace"}
    )
    assert r.status_code == 409
    assert "Stale consent version" in r.json()["detail"]
    r = await client.post(
        "/voice/consent", headers=h, json={"version": body["version"], "typed_name": " "}
    )
    assert r.status_code == 422
    r = await client.post(
        "/voice/consent",
        headers=h,
        json={"version": body["version"], "typed_name": "  Ada   Lovelace "},
    )
    assert r.status_code == 201 and r.json()["typed_name"] == "Ada Lovelace"
    r = await client.get("/voice/consent", headers=h)
    assert r.json()["signed_version"] == service.CURRENT_CONSENT_VERSION


async def test_enroll_requires_consent_403_and_current_version_409(client, voice_user, provider):
    h = voice_user["headers"]
    r = await enroll(client, h)
    assert r.status_code == 403 and "consent" in r.json()["detail"].lower()
    async with session_scope() as s:
        s.add(
            VoiceConsent(
                user_id=voice_user["user"]["id"],
                version="2025-01-01",
                text_sha256="0" * 64,
                typed_name="Ada Lovelace",
            )
        )
    r = await enroll(client, h)
    assert r.status_code == 409 and "Stale consent" in r.json()["detail"]
    await sign(client, h)
    r = await enroll(client, h)
    assert r.status_code == 202


async def test_enroll_clone_preview_activate_end_to_end(client, voice_user, provider, pump):
    h = voice_user["headers"]
    await sign(client, h)
    r = await enroll(client, h)
    assert r.status_code == 202
    pid = r.json()["profile_id"]
    r = await client.get(f"/voice/status/{pid}", headers=h)
    assert r.json()["status"] == "processing"
    assert await pump.drain() >= 1
    add = provider.calls("POST", "/v1/voices/add")
    assert len(add) == 1
    assert add[0].headers["xi-api-key"] == provider.api_key
    assert add[0].files["files"][2] == WAV
    r = await client.get(f"/voice/status/{pid}", headers=h)
    assert r.json()["status"] == "ready" and r.json()["ready_at"]
    async with session_scope() as s:  # enrolment audio is gone once processed
        n = await s.scalar(select(func.count()).select_from(VoiceSample))
        assert n == 0
    r = await client.post(f"/voice/preview/{pid}", headers=h, json={"text": "Hello there"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "audio/mpeg" and r.content == MP3
    tts = provider.calls("POST", "/v1/text-to-speech/")
    assert tts[0].json["text"] == "Hello there"
    r = await client.post(f"/voice/preview/{pid}", headers=h, json={"text": "x" * 301})
    assert r.status_code == 422
    r = await client.post(f"/voice/preview/{pid}", headers=h, json={"text": "x" * 300})
    assert r.status_code == 200
    async with session_scope() as s:
        assert await service.active_voice_id(s, voice_user["user"]["id"]) is None
    r = await client.post(f"/voice/activate/{pid}", headers=h)
    assert r.status_code == 200 and r.json()["active"] is True
    async with session_scope() as s:
        voice_id = await service.active_voice_id(s, voice_user["user"]["id"])
    assert voice_id in provider.voices
    r = await client.get("/voice/profiles", headers=h)
    assert r.json()["active_profile_id"] == pid and len(r.json()["profiles"]) == 1
    # Turning the flag off stops the worker from using the voice.
    await set_user(voice_user["user"]["id"], features={})
    async with session_scope() as s:
        assert await service.active_voice_id(s, voice_user["user"]["id"]) is None


async def test_one_enrolment_per_24h(client, voice_user, provider, clock):
    h = voice_user["headers"]
    await sign(client, h)
    assert (await enroll(client, h)).status_code == 202
    clock.advance(hours=23)
    r = await enroll(client, h)
    assert r.status_code == 429
    assert 3500 <= int(r.headers["Retry-After"]) <= 3601
    clock.advance(hours=1)
    assert (await enroll(client, h)).status_code == 202


async def test_413_while_streaming_and_by_content_length(client, voice_user, provider):
    h = voice_user["headers"]
    await sign(client, h)
    boundary = "nova-test-boundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="audio"; '
        'filename="big.wav"\r\nContent-Type: audio/wav\r\n\r\n'
    ).encode()
    sent = {"bytes": 0}

    async def body():
        yield head + WAV
        chunk = b"\x00" * (1024 * 1024)
        for _ in range(17):
            sent["bytes"] += len(chunk)
            yield chunk
        yield f"\r\n--{boundary}--\r\n".encode()

    r = await client.post(
        "/voice/enroll",
        headers={**h, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        content=body(),
    )
    assert r.status_code == 413, r.text
    assert "16 MB" in r.json()["detail"]
    # Refused at the cap: the rest of the stream was never read.
    assert sent["bytes"] <= 17 * 1024 * 1024
    big = WAV + b"\x00" * (17 * 1024 * 1024)
    r = await enroll(client, h, data=big)
    assert r.status_code == 413
    async with session_scope() as s:  # a refused upload is not an attempt
        assert await s.scalar(select(func.count()).select_from(VoiceProfile)) == 0
    exactly = WAV + b"\x00" * (16 * 1024 * 1024 - len(WAV))
    assert (await enroll(client, h, data=exactly)).status_code == 202


async def test_audio_type_checked_by_content(client, voice_user, provider):
    h = voice_user["headers"]
    await sign(client, h)
    r = await client.post(
        "/voice/enroll",
        headers=h,
        files={"audio": ("fake.wav", b"<html>not audio</html>" * 20, "audio/wav")},
    )
    assert r.status_code == 415
    r = await client.post("/voice/enroll", headers=h, data={"name": "x"}, files={})
    assert r.status_code == 400
    r = await client.post("/voice/enroll", headers=h, json={"audio": "x"})
    assert r.status_code == 400
    r = await client.post(
        "/voice/enroll", headers=h, files={"audio": ("empty.wav", b"", "audio/wav")}
    )
    assert r.status_code == 400
    for sample in (
        b"fLaC" + b"\x00" * 60,
        b"OggS" + b"\x00" * 60,
        b"\x1a\x45\xdf\xa3" + b"\x00" * 60,
        b"\x00\x00\x00\x20ftypM4A " + b"\x00" * 60,
        b"ID3\x04" + b"\x00" * 60,
        b"\xff\xfb\x90\x00" + b"\x00" * 60,
    ):
        assert service_sniff(sample) is not None
    assert service_sniff(b"\xff\xe0\x00\x00") is None  # sync bits without a layer


def service_sniff(data: bytes):
    from nova.voice.upload import sniff_audio

    return sniff_audio(data)


async def test_451_from_eu_by_account_country_and_trusted_header(
    client, voice_user, provider, settings
):
    h = voice_user["headers"]
    await sign(client, h)
    uid = voice_user["user"]["id"]
    await set_user(uid, country="DE")
    r = await enroll(client, h)
    assert r.status_code == 451
    await set_user(uid, country="AE")
    # The header only counts from a trusted proxy: the test peer (203.0.113.10) is not one.
    r = await enroll(client, {**h, "CF-IPCountry": "GB"})
    assert r.status_code == 202
    await set_user(uid, country=None)


async def test_451_trusted_proxy_header(client, voice_user, provider, settings):
    h = voice_user["headers"]
    await sign(client, h)
    settings.trusted_proxies = ["203.0.113.0/24"]
    settings.voice_country_header = "X-Country"
    r = await enroll(client, {**h, "X-Country": "no"})
    assert r.status_code == 451
    assert "EU/EEA/UK" in r.json()["detail"]
    r = await enroll(client, {**h, "CF-IPCountry": "FR", "X-Country": "US"})
    assert r.status_code == 202


async def test_provider_errors_502_and_clone_failure(client, voice_user, provider, pump, settings):
    h = voice_user["headers"]
    pid = await _ready_profile(client, h, pump)
    provider.fail("POST", "/v1/text-to-speech/", 503)
    r = await client.post(f"/voice/preview/{pid}", headers=h, json={"text": "hi"})
    assert r.status_code == 502
    assert "Voice provider error" in r.json()["detail"]
    assert provider.api_key not in r.text
    settings.voice_provider_api_key = None
    r = await client.post(f"/voice/preview/{pid}", headers=h, json={"text": "hi"})
    assert r.status_code == 503


async def test_clone_retries_transient_errors_then_fails(
    client, voice_user, provider, pump, clock, settings
):
    h = voice_user["headers"]
    await sign(client, h)
    provider.fail("POST", "/v1/voices/add", 500, times=2)
    pid = (await enroll(client, h)).json()["profile_id"]
    await pump.drain()
    r = await client.get(f"/voice/status/{pid}", headers=h)
    assert r.json()["status"] == "processing"
    clock.advance(seconds=5)
    await pump.drain()
    assert (await client.get(f"/voice/status/{pid}", headers=h)).json()["status"] == "processing"
    clock.advance(seconds=30)
    await pump.drain()
    body = (await client.get(f"/voice/status/{pid}", headers=h)).json()
    assert body["status"] == "ready"
    assert len(provider.calls("POST", "/v1/voices/add")) == 3

    # A permanent provider refusal fails the profile at once; preview/activate → 409.
    clock.advance(hours=24)
    provider.fail("POST", "/v1/voices/add", 400)
    pid2 = (await enroll(client, h)).json()["profile_id"]
    await pump.drain()
    body = (await client.get(f"/voice/status/{pid2}", headers=h)).json()
    assert body["status"] == "failed" and "HTTP 400" in body["error"]
    assert (await client.post(f"/voice/activate/{pid2}", headers=h)).status_code == 409
    r = await client.post(f"/voice/preview/{pid2}", headers=h, json={"text": "hi"})
    assert r.status_code == 409

    # Transient errors past the attempt budget fail it too.
    settings.voice_clone_max_attempts = 2
    clock.advance(hours=24)
    provider.fail("POST", "/v1/voices/add", 503, times=5)
    pid3 = (await enroll(client, h)).json()["profile_id"]
    for _ in range(3):
        await pump.drain()
        clock.advance(seconds=600)
    body = (await client.get(f"/voice/status/{pid3}", headers=h)).json()
    assert body["status"] == "failed"


async def test_activate_requires_ready(client, voice_user, provider, pump):
    h = voice_user["headers"]
    await sign(client, h)
    pid = (await enroll(client, h)).json()["profile_id"]
    r = await client.post(f"/voice/activate/{pid}", headers=h)
    assert r.status_code == 409
    await pump.drain()
    assert (await client.post(f"/voice/activate/{pid}", headers=h)).status_code == 200


async def test_revoke_deletes_at_provider_with_retries(client, voice_user, provider, pump, clock):
    h = voice_user["headers"]
    pid = await _ready_profile(client, h, pump)
    await client.post(f"/voice/activate/{pid}", headers=h)
    voice_id = next(iter(provider.voices))
    provider.fail("DELETE", "/v1/voices/", 503, times=2)
    r = await client.delete(f"/voice/{pid}", headers=h)
    assert r.status_code == 200
    assert r.json() == {"id": pid, "status": "revoked", "provider_deletion": "pending"}
    async with session_scope() as s:
        assert await service.active_voice_id(s, voice_user["user"]["id"]) is None
    assert (await client.get(f"/voice/status/{pid}", headers=h)).status_code == 404
    assert (await client.delete(f"/voice/{pid}", headers=h)).status_code == 404
    assert (await client.get("/voice/profiles", headers=h)).json()["profiles"] == []
    await pump.drain()
    assert voice_id in provider.voices
    clock.advance(seconds=5)
    await pump.drain()
    assert voice_id in provider.voices
    clock.advance(seconds=30)
    await pump.drain()
    assert voice_id not in provider.voices and provider.deleted == [voice_id]
    async with session_scope() as s:
        p = await s.get(VoiceProfile, pid)
        assert p.provider_deleted_at is not None
        t = (await s.execute(select(Task).where(Task.handler == "voice.delete_clone"))).scalar()
        assert t.status == "done" and t.attempts == 3


async def test_revoke_provider_404_counts_as_deleted(client, voice_user, provider, pump):
    h = voice_user["headers"]
    pid = await _ready_profile(client, h, pump)
    provider.voices.clear()  # deleted out of band
    assert (await client.delete(f"/voice/{pid}", headers=h)).status_code == 200
    await pump.drain()
    async with session_scope() as s:
        assert (await s.get(VoiceProfile, pid)).provider_deleted_at is not None


async def test_revoke_while_processing_deletes_what_the_job_creates(
    client, voice_user, provider, pump
):
    h = voice_user["headers"]
    await sign(client, h)
    pid = (await enroll(client, h)).json()["profile_id"]
    r = await client.delete(f"/voice/{pid}", headers=h)
    assert r.json()["provider_deletion"] == "done"
    await pump.drain()
    assert provider.calls("POST", "/v1/voices/add") == []  # never uploaded after revocation
    async with session_scope() as s:
        assert await s.scalar(select(func.count()).select_from(VoiceSample)) == 0


async def test_bola_other_accounts_profile_is_404(client, voice_user, provider, pump):
    h = voice_user["headers"]
    pid = await _ready_profile(client, h, pump)
    other = await register(client, "other@example.com")
    await set_user(other["user"]["id"], features={"voice_cloning": True})
    oh = other["headers"]
    assert (await client.get(f"/voice/status/{pid}", headers=oh)).status_code == 404
    r = await client.post(f"/voice/preview/{pid}", headers=oh, json={"text": "hi"})
    assert r.status_code == 404
    assert (await client.post(f"/voice/activate/{pid}", headers=oh)).status_code == 404
    assert (await client.delete(f"/voice/{pid}", headers=oh)).status_code == 404
    assert (await client.get("/voice/profiles", headers=oh)).json()["profiles"] == []
    assert (await client.get(f"/voice/status/{pid}", headers=h)).json()["status"] == "ready"


async def test_provider_key_never_logged_or_returned(client, voice_user, provider, pump, caplog):
    caplog.set_level(logging.DEBUG)
    h = voice_user["headers"]
    provider.fail("POST", "/v1/voices/add", 401)
    await sign(client, h)
    pid = (await enroll(client, h)).json()["profile_id"]
    await pump.drain()
    r = await client.get(f"/voice/status/{pid}", headers=h)
    assert r.json()["status"] == "failed"
    assert provider.api_key not in r.text
    assert provider.api_key not in caplog.text
    assert all(provider.api_key not in str(rec.args) for rec in caplog.records)


async def test_unauthenticated_is_401(client):
    assert (await client.get("/voice/profiles")).status_code == 401


async def test_no_provider_configured_is_503(client, voice_user, settings):
    settings.voice_provider_api_key = None
    h = voice_user["headers"]
    await sign(client, h)
    r = await enroll(client, h)
    assert r.status_code == 503 and "not configured" in r.json()["detail"]


async def test_failure_after_upload_deletes_the_half_made_clone(
    client, voice_user, provider, pump, clock
):
    h = voice_user["headers"]
    await sign(client, h)
    provider.fail("GET", "/v1/voices/", 403)  # uploaded, then the check is refused
    pid = (await enroll(client, h)).json()["profile_id"]
    await pump.drain()
    assert (await client.get(f"/voice/status/{pid}", headers=h)).json()["status"] == "failed"
    assert provider.voices == {} and len(provider.deleted) == 1


async def test_upload_streams_without_holding_the_database(client, voice_user, provider):
    """While the audio streams in, other requests can write (SQLite: no write lock held)."""
    h = voice_user["headers"]
    await sign(client, h)
    boundary = "nova-b"
    wrote = {}

    async def body():
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="audio"; '
            'filename="a.wav"\r\nContent-Type: audio/wav\r\n\r\n'
        ).encode() + WAV
        async with session_scope() as s:  # another writer, mid-upload
            s.add(
                VoiceConsent(
                    user_id=voice_user["user"]["id"],
                    version="meanwhile",
                    text_sha256="0" * 64,
                    typed_name="Concurrent Writer",
                )
            )
        wrote["ok"] = True
        yield f"\r\n--{boundary}--\r\n".encode()

    r = await client.post(
        "/voice/enroll",
        headers={**h, "Content-Type": f"multipart/form-data; boundary={boundary}"},
        content=body(),
    )
    assert r.status_code == 202 and wrote["ok"]
