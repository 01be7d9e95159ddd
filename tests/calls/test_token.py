"""POST /token: LiveKit participant tokens only for live demo rooms Nova created."""

from __future__ import annotations

import jwt
from livekit import api

from tests.calls.conftest import payload


async def _demo_call(client) -> dict:
    r = await client.post("/calls", json=payload())
    assert r.status_code == 200
    return r.json()["calls"][0]


async def test_token_for_a_demo_room_audio_only_ten_minutes(client, livekit):
    call = await _demo_call(client)
    r = await client.post(
        "/token", json={"room_name": call["room_name"], "participant_name": "Test Caller"}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"server_url", "participant_token", "room_name"}
    assert body["room_name"] == call["room_name"]
    assert body["server_url"] == livekit.url.replace("http://", "ws://")
    claims = api.TokenVerifier(livekit.api_key, livekit.api_secret).verify(
        body["participant_token"]
    )
    assert claims.name == "Test Caller"
    assert claims.identity.startswith("test-caller-")
    v = claims.video
    assert v.room_join is True and v.room == call["room_name"]
    assert v.can_publish is True and v.can_subscribe is True
    assert v.can_publish_sources == ["microphone"]
    assert not v.can_publish_data
    assert not (v.room_admin or v.room_create or v.room_list or v.room_record)
    raw = jwt.decode(body["participant_token"], options={"verify_signature": False})
    assert raw["exp"] - raw["nbf"] == 600


async def test_token_by_context_id(client, livekit):
    call = await _demo_call(client)
    r = await client.post("/token", json={"context_id": call["context_id"]})
    assert r.status_code == 200
    assert r.json()["room_name"] == f"call-{call['context_id']}"


async def test_token_ttl_is_configurable(client, livekit, settings):
    settings.token_ttl_seconds = 120
    call = await _demo_call(client)
    r = await client.post("/token", json={"room_name": call["room_name"]})
    raw = jwt.decode(r.json()["participant_token"], options={"verify_signature": False})
    assert raw["exp"] - raw["nbf"] == 120


async def test_no_token_for_rooms_nova_did_not_create(client, livekit):
    r = await client.post("/token", json={"room_name": "someone-elses-room"})
    assert r.status_code == 404
    assert "only issued for rooms Nova created" in r.json()["detail"]
    r = await client.post("/token", json={"context_id": "00000000-0000-0000-0000-000000000000"})
    assert r.status_code == 404


async def test_no_token_after_the_job_expired(client, livekit, clock):
    call = await _demo_call(client)
    clock.advance(seconds=600)
    r = await client.post("/token", json={"room_name": call["room_name"]})
    assert r.status_code == 404


async def test_room_or_context_is_required_and_must_agree(client, livekit):
    r = await client.post("/token", json={"participant_name": "x"})
    assert r.status_code == 400 and r.json()["detail"] == "room_name or context_id is required"
    call = await _demo_call(client)
    r = await client.post("/token", json={"room_name": call["room_name"], "context_id": "other"})
    assert r.status_code == 400


async def test_no_token_for_a_sip_call(clock, client, livekit, settings, user):
    # A SIP dial passes the compliance gate: the frozen clock (12:30 in Dubai) is inside
    # the UAE calling window whatever the time of day the suite runs.
    settings.dial_mode = "sip"
    settings.sip_outbound_trunk_id = "ST_trunk"
    r = await client.post("/calls", json=payload(), headers=user["headers"])
    room = r.json()["calls"][0]["room_name"]
    r = await client.post("/token", json={"room_name": room})
    assert r.status_code == 403
    assert "demo rooms" in r.json()["detail"]


async def test_no_token_for_a_failed_call(client, livekit):
    livekit.fail("AgentDispatchService", "CreateDispatch", times=1)
    call = await _demo_call(client)
    assert call["status"] == "failed"
    r = await client.post("/token", json={"room_name": call["room_name"]})
    assert r.status_code == 409


async def test_500_when_livekit_is_not_configured(client):
    r = await client.post("/token", json={"room_name": "call-x", "participant_name": "T"})
    assert r.status_code == 500
    assert "LiveKit is not configured" in r.json()["detail"]
