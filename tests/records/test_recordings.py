"""Recordings: a LiveKit Egress per recorded call (the Egress Twirp API of the LiveKit fake,
driven by the real livekit-api client), the file in S3 (moto's server: the real S3 wire
protocol on loopback), LiveKit's signed webhooks (livekit-api's WebhookReceiver; forged
and expired ones refused), presigned links, deletion and retention."""

from __future__ import annotations

import contextlib
import socket
from datetime import timedelta
from urllib.parse import parse_qs, urlparse

import boto3
import httpx
import pytest
from botocore.exceptions import ClientError
from pydantic import SecretStr

from nova.core.db import session_scope
from nova.models.records import CallRecording
from nova.records import service
from tests.conftest import register
from tests.records.helpers import finish
from tests.telephony.factories import create_call

AUDIO = b"OggS" + b"\x00" * 4000
BUCKET = "nova-recordings"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def s3_server():
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=_free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def storage(s3_server, settings, livekit):
    settings.recording_s3_bucket = BUCKET
    settings.recording_s3_endpoint = s3_server
    settings.recording_s3_access_key = "AKIAEXAMPLE"
    settings.recording_s3_secret_key = SecretStr("secret-example")
    settings.recording_s3_force_path_style = True
    s3 = boto3.client(
        "s3",
        endpoint_url=s3_server,
        region_name="us-east-1",
        aws_access_key_id="AKIAEXAMPLE",
        aws_secret_access_key="secret-example",
    )
    with contextlib.suppress(ClientError):  # module-scoped server: made by the first test
        s3.create_bucket(Bucket=BUCKET)
    return s3


async def enable(client, user) -> None:
    r = await client.put(
        "/v1/records/settings", json={"recording_enabled": True}, headers=user["headers"]
    )
    assert r.status_code == 200, r.text
    assert r.json()["recording_enabled"] is True


async def started_call(user, pump):
    """A call as dispatch leaves it, with its call.started event delivered."""
    from nova.core.events import emit

    call = await create_call(user_id=user["user"]["id"])
    async with session_scope() as s:
        await emit(s, "call.started", {"call_id": call.id, "customer_id": user["user"]["id"]})
    await pump.drain()
    return call


async def hook(client, body: bytes, token: str | None):
    headers = {"Content-Type": "application/webhook+json"}
    if token is not None:
        headers["Authorization"] = token
    return await client.post("/v1/livekit/webhook", content=body, headers=headers)


async def test_recording_needs_storage(client, user, livekit):
    r = await client.put(
        "/v1/records/settings", json={"recording_enabled": True}, headers=user["headers"]
    )
    assert r.status_code == 503 and "NOVA_RECORDING_S3_BUCKET" in r.json()["detail"]
    got = await client.get("/v1/records/settings", headers=user["headers"])
    assert got.json()["recording_enabled"] is False
    assert got.json()["recordings_available"] is False


async def test_recorded_call_from_egress_to_presigned_link(
    client, user, clock, pump, livekit, storage, settings
):
    await enable(client, user)
    call = await started_call(user, pump)
    [req] = livekit.calls("Egress", "StartRoomCompositeEgress")
    assert req.room_name == call.room_name and req.audio_only is True
    out = req.file_outputs[0]
    assert out.filepath == f"recordings/{user['user']['id']}/{call.id}.ogg"
    assert (out.s3.bucket, out.s3.endpoint, out.s3.force_path_style) == (
        BUCKET,
        settings.recording_s3_endpoint,
        True,
    )
    r = await client.get(f"/v1/calls/{call.id}/recording", headers=user["headers"])
    assert r.json()["status"] == "starting" and r.json()["url"] is None
    # Started twice (event delivered again): one egress only.
    from nova.records.recordings import start_recording

    async with session_scope() as s:
        await start_recording(s, settings, call.id)
    assert len(livekit.calls("Egress", "StartRoomCompositeEgress")) == 1

    egress_id = next(iter(livekit.egresses))
    await livekit.finish_egress(egress_id, AUDIO)
    body, token = livekit.webhook("egress_ended", egress_id=egress_id)
    r = await hook(client, body, token)
    assert r.status_code == 200 and r.json()["status"] == "ready"

    r = await client.get(f"/v1/calls/{call.id}/recording", headers=user["headers"])
    rec = r.json()
    assert rec["status"] == "ready" and rec["size_bytes"] == len(AUDIO)
    assert rec["duration_seconds"] == 12.5
    query = parse_qs(urlparse(rec["url"]).query)
    assert query["X-Amz-Expires"] == ["300"] and "X-Amz-Signature" in query
    async with httpx.AsyncClient() as http:
        got = await http.get(rec["url"])
    assert got.status_code == 200 and got.content == AUDIO  # the S3 server honours it

    other = await register(client, "other@example.com")
    r = await client.get(f"/v1/calls/{call.id}/recording", headers=other["headers"])
    assert r.status_code == 404

    r = await client.delete(f"/v1/calls/{call.id}/recording", headers=user["headers"])
    assert r.status_code == 204
    with pytest.raises(ClientError):
        storage.head_object(Bucket=BUCKET, Key=out.filepath)
    r = await client.get(f"/v1/calls/{call.id}/recording", headers=user["headers"])
    assert r.json()["status"] == "deleted" and r.json()["url"] is None
    r = await client.delete(f"/v1/calls/{call.id}/recording", headers=user["headers"])
    assert r.status_code == 404


async def test_the_opening_line_announces_the_recording(client, user, livekit, storage):
    import json

    await enable(client, user)
    r = await client.post(
        "/calls",
        headers=user["headers"],
        json={
            "owner_email": "owner@example.com",
            "product": "Marina towers",
            "goal": "qualify_interest",
            "consent": True,
            "leads": [{"phone": "+971501234567", "name": "Sam"}],
        },
    )
    assert r.status_code == 200, r.text
    [dispatch] = livekit.calls("AgentDispatchService", "CreateDispatch")
    meta = json.loads(dispatch.metadata)
    assert meta["brief"]["opening_line"].startswith("Just so you know, this call is recorded.")
    ctx = await client.get(f"/contexts/{r.json()['calls'][0]['context_id']}")
    assert ctx.json()["opening_line"].startswith("Just so you know, this call is recorded.")


async def test_calls_are_not_recorded_unless_the_account_says_so(
    client, user, pump, storage, livekit
):
    call = await started_call(user, pump)
    assert livekit.calls("Egress", "StartRoomCompositeEgress") == []
    r = await client.get(f"/v1/calls/{call.id}/recording", headers=user["headers"])
    assert r.status_code == 200 and r.json()["status"] == "not_recorded"
    r = await client.delete(f"/v1/calls/{call.id}/recording", headers=user["headers"])
    assert r.status_code == 404


async def test_forged_and_expired_webhooks_are_refused(client, user, pump, livekit, storage):
    await enable(client, user)
    call = await started_call(user, pump)
    egress_id = next(iter(livekit.egresses))
    await livekit.finish_egress(egress_id, AUDIO)
    cases = [
        livekit.webhook("egress_ended", egress_id=egress_id, secret="x" * 40),  # forged
        livekit.webhook("egress_ended", egress_id=egress_id, ttl=timedelta(minutes=-10)),
    ]
    for body, token in cases:
        r = await hook(client, body, token)
        assert r.status_code == 401, r.text
    body, token = livekit.webhook("egress_ended", egress_id=egress_id)
    assert (await hook(client, body, None)).status_code == 401
    tampered = body.replace(b"EGRESS_COMPLETE", b"EGRESS_FAILED")
    assert (await hook(client, tampered, token)).status_code == 401  # body's hash differs
    r = await client.get(f"/v1/calls/{call.id}/recording", headers=user["headers"])
    assert r.json()["status"] == "starting"  # nothing recorded from refused webhooks


async def test_failed_egress_and_room_finished(client, user, pump, livekit, storage):
    await enable(client, user)
    call = await started_call(user, pump)
    egress_id = next(iter(livekit.egresses))
    body, token = livekit.webhook("egress_started", egress_id=egress_id)
    assert (await hook(client, body, token)).json()["status"] == "active"
    body, token = livekit.webhook("room_finished", room_name=call.room_name)
    assert (await hook(client, body, token)).status_code == 200
    assert [r.egress_id for r in livekit.calls("Egress", "StopEgress")] == [egress_id]
    await livekit.finish_egress(egress_id, None)
    body, token = livekit.webhook("egress_ended", egress_id=egress_id)
    await hook(client, body, token)
    r = await client.get(f"/v1/calls/{call.id}/recording", headers=user["headers"])
    assert r.json()["status"] == "failed" and "no audio" in r.json()["error"]


async def test_retention_deletes_recordings(client, clock, settings, pump, livekit, storage):
    settings.jwt_ttl_seconds = 400 * 86400
    user = await register(client)
    await enable(client, user)
    call = await started_call(user, pump)
    egress_id = next(iter(livekit.egresses))
    await livekit.finish_egress(egress_id, AUDIO)
    body, token = livekit.webhook("egress_ended", egress_id=egress_id)
    await hook(client, body, token)
    await finish(client, clock, call.id)
    key = f"recordings/{user['user']['id']}/{call.id}.ogg"
    assert storage.head_object(Bucket=BUCKET, Key=key)["ContentLength"] == len(AUDIO)
    clock.advance(days=91)
    assert await service.purge_expired(settings) == 2  # the transcript and the recording
    with pytest.raises(ClientError):
        storage.head_object(Bucket=BUCKET, Key=key)
    async with session_scope() as s:
        row = await s.get(CallRecording, call.id)
    assert row.status == "deleted" and row.deleted_at == clock.now()
