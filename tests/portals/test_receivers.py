from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from nova.core.db import session_scope
from nova.models.events import Task
from nova.models.portals import PortalLead
from tests.conftest import register
from tests.portals.helpers import bayut_payload, create_integration, encode, pf_payload, sign

PF = "/webhooks/property-finder"
PF_HEADER = "X-PropertyFinder-Signature"


async def _count(model, *where) -> int:
    async with session_scope() as s:
        return int(await s.scalar(select(func.count()).select_from(model).where(*where)))


async def test_receivers_answer_503_until_configured(client):
    body = encode(pf_payload())
    r = await client.post(PF, content=body, headers={PF_HEADER: sign("x", body)})
    assert r.status_code == 503
    assert "not enabled" in r.json()["detail"]
    r = await client.post(
        "/webhooks/bayut", content=body, headers={"X-Bayut-Signature": "sha256=00"}
    )
    assert r.status_code == 503


async def test_secret_shown_once_and_never_listed(client, user):
    integ = await create_integration(client, user["headers"])
    assert integ["secret"].startswith("pk_") and len(integ["secret"]) > 30
    assert integ["secret_last4"] == integ["secret"][-4:]
    r = await client.get("/portals/integrations", headers=user["headers"])
    assert r.status_code == 200
    assert integ["secret"] not in r.text
    assert "secret" not in r.json()[0]
    r = await client.post(
        "/portals/integrations",
        json={"portal": "property_finder", "product": "x", "owner_email": "a@example.com"},
        headers=user["headers"],
    )
    assert r.status_code == 409


async def test_valid_delivery_is_recorded_and_queued(client, user):
    integ = await create_integration(client, user["headers"])
    body = encode(pf_payload(event_id="evt_1"))
    r = await client.post(PF, content=body, headers={PF_HEADER: sign(integ["secret"], body)})
    assert r.status_code == 200, r.text
    ack = r.json()
    assert ack["accepted"] is True and ack["event_id"] == "evt_1" and ack["duplicate"] is False
    assert isinstance(ack["elapsed_ms"], float)
    assert await _count(PortalLead) == 1
    assert await _count(Task, Task.handler == "portals.dispatch") == 1
    leads = await client.get(f"/portals/integrations/{integ['id']}/leads", headers=user["headers"])
    assert leads.json()[0]["listing_reference"] == "PF-DXB-44871"
    assert leads.json()[0]["status"] == "received"


@pytest.mark.parametrize(
    "mutate",
    ["wrong_secret", "wrong_prefix", "empty", "missing", "tampered", "uppercase_hex_garbage"],
)
async def test_bad_signatures_are_401_and_record_nothing(client, user, mutate):
    integ = await create_integration(client, user["headers"])
    body = encode(pf_payload())
    good = sign(integ["secret"], body)
    headers = {PF_HEADER: good}
    send = body
    if mutate == "wrong_secret":
        headers[PF_HEADER] = sign("pk_not-the-secret", body)
    elif mutate == "wrong_prefix":
        headers[PF_HEADER] = good.replace("sha256=", "sha1=")
    elif mutate == "empty":
        headers[PF_HEADER] = ""
    elif mutate == "missing":
        headers = {}
    elif mutate == "tampered":
        send = body.replace(b"Omar", b"Oman")
    elif mutate == "uppercase_hex_garbage":
        headers[PF_HEADER] = "sha256=" + "Z" * 64
    r = await client.post(PF, content=send, headers=headers)
    assert r.status_code == 401, r.text
    assert await _count(PortalLead) == 0
    assert await _count(Task) == 0


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1,2,3]",
        encode({"id": "e1", "type": "lead.created"}),  # no payload / timestamp
        encode(pf_payload(type="listing.updated")),
        encode({**pf_payload(), "created_at": "yesterday"}),
    ],
)
async def test_schema_failures_are_400(client, user, body):
    integ = await create_integration(client, user["headers"])
    r = await client.post(PF, content=body, headers={PF_HEADER: sign(integ["secret"], body)})
    assert r.status_code == 400
    assert r.json()["detail"]
    assert await _count(PortalLead) == 0


async def test_pf_payload_missing_phone_is_400(client, user):
    integ = await create_integration(client, user["headers"])
    payload = pf_payload()
    del payload["payload"]["contact"]["phone"]
    body = encode(payload)
    r = await client.post(PF, content=body, headers={PF_HEADER: sign(integ["secret"], body)})
    assert r.status_code == 400
    assert "payload.contact.phone" in r.json()["detail"]


async def test_bayut_schema_and_signature(client, user):
    integ = await create_integration(client, user["headers"], portal="bayut")
    body = encode(bayut_payload(event_id="bay_1"))
    r = await client.post(
        "/webhooks/bayut", content=body, headers={"X-Bayut-Signature": sign(integ["secret"], body)}
    )
    assert r.status_code == 200, r.text
    # A Property Finder payload at the Bayut receiver fails Bayut's schema.
    pf = encode(pf_payload())
    r = await client.post(
        "/webhooks/bayut", content=pf, headers={"X-Bayut-Signature": sign(integ["secret"], pf)}
    )
    assert r.status_code == 400
    # The Property Finder header name does not count at the Bayut receiver.
    r = await client.post(
        "/webhooks/bayut", content=body, headers={PF_HEADER: sign(integ["secret"], body)}
    )
    assert r.status_code == 401


async def test_replay_under_concurrency_records_one_lead(client, user):
    integ = await create_integration(client, user["headers"])
    body = encode(pf_payload(event_id="evt_replayed"))
    headers = {PF_HEADER: sign(integ["secret"], body)}
    results = await asyncio.gather(
        *(client.post(PF, content=body, headers=headers) for _ in range(8))
    )
    assert [r.status_code for r in results] == [200] * 8
    assert sum(1 for r in results if not r.json()["duplicate"]) == 1
    assert len({r.json()["lead_id"] for r in results}) == 1
    assert await _count(PortalLead) == 1
    assert await _count(Task, Task.handler == "portals.dispatch") == 1


async def test_disabled_and_unknown_integrations(client, user):
    integ = await create_integration(client, user["headers"])
    body = encode(pf_payload())
    sig = {PF_HEADER: sign(integ["secret"], body)}
    r = await client.post(f"{PF}/00000000-0000-0000-0000-000000000000", content=body, headers=sig)
    assert r.status_code == 404
    r = await client.delete(f"/portals/integrations/{integ['id']}", headers=user["headers"])
    assert r.status_code == 204
    r = await client.post(f"{PF}/{integ['id']}", content=body, headers=sig)
    assert r.status_code == 503
    r = await client.post(PF, content=body, headers=sig)
    assert r.status_code == 503
    assert await _count(PortalLead) == 0


async def test_second_account_does_not_take_over_or_break_the_bare_path(client, user, clock):
    """Finding 10: a second account configuring the same portal used to turn the bare path
    into a 503 for everyone. It stays the first account's, whatever the others do."""
    a = await create_integration(client, user["headers"])
    clock.advance(1)
    other = await register(client, "other@example.com")
    b = await create_integration(client, other["headers"])
    body = encode(pf_payload())
    r = await client.post(PF, content=body, headers={PF_HEADER: sign(a["secret"], body)})
    assert r.status_code == 200, r.text
    # The second account's secret is no good on the first account's path...
    body2 = encode(pf_payload())
    r = await client.post(PF, content=body2, headers={PF_HEADER: sign(b["secret"], body2)})
    assert r.status_code == 401
    # ...and with the id, each account's own secret is the one that counts.
    r = await client.post(
        f"{PF}/{b['id']}", content=body2, headers={PF_HEADER: sign(a["secret"], body2)}
    )
    assert r.status_code == 401
    r = await client.post(
        f"{PF}/{b['id']}", content=body2, headers={PF_HEADER: sign(b["secret"], body2)}
    )
    assert r.status_code == 200
    # The first account disabling its integration closes the bare path; it does not hand it
    # over to the second account.
    r = await client.delete(f"/portals/integrations/{a['id']}", headers=user["headers"])
    assert r.status_code == 204
    body3 = encode(pf_payload())
    r = await client.post(PF, content=body3, headers={PF_HEADER: sign(b["secret"], body3)})
    assert r.status_code == 503
    r = await client.post(
        f"{PF}/{b['id']}", content=body3, headers={PF_HEADER: sign(b["secret"], body3)}
    )
    assert r.status_code == 200


async def test_rotate_secret_invalidates_old_one(client, user):
    integ = await create_integration(client, user["headers"])
    r = await client.post(
        f"/portals/integrations/{integ['id']}/rotate-secret", headers=user["headers"]
    )
    assert r.status_code == 200
    new = r.json()["secret"]
    assert new != integ["secret"]
    body = encode(pf_payload())
    r = await client.post(PF, content=body, headers={PF_HEADER: sign(integ["secret"], body)})
    assert r.status_code == 401
    r = await client.post(PF, content=body, headers={PF_HEADER: sign(new, body)})
    assert r.status_code == 200


async def test_integration_bola_and_validation(client, user):
    integ = await create_integration(client, user["headers"])
    other = await register(client, "mallory@example.com")
    for method, path in [
        ("GET", f"/portals/integrations/{integ['id']}"),
        ("PATCH", f"/portals/integrations/{integ['id']}"),
        ("DELETE", f"/portals/integrations/{integ['id']}"),
        ("GET", f"/portals/integrations/{integ['id']}/leads"),
        ("POST", f"/portals/integrations/{integ['id']}/rotate-secret"),
    ]:
        kw = {"json": {"enabled": False}} if method == "PATCH" else {}
        r = await client.request(method, path, headers=other["headers"], **kw)
        assert r.status_code == 404, (method, path)
    r = await client.get("/portals/integrations")
    assert r.status_code == 401
    r = await client.patch(
        f"/portals/integrations/{integ['id']}",
        json={"goal": "book_meeting"},
        headers=user["headers"],
    )
    assert r.status_code == 400
    assert "booking_link" in r.json()["detail"]
    r = await client.post(
        "/portals/integrations",
        json={
            "portal": "bayut",
            "product": "x",
            "owner_email": "a@example.com",
            "goal": "close_sale",
        },
        headers=user["headers"],
    )
    assert r.status_code == 422
