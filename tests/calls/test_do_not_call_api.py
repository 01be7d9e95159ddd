"""/v1/do-not-call: the account's list over HTTP, and POST /calls honouring it."""

from __future__ import annotations

from tests.calls.conftest import payload
from tests.conftest import register


async def _auth(client, email="dnc@example.com"):
    return (await register(client, email))["headers"]


async def test_add_list_remove_and_calls_skip_listed_numbers(client, livekit):
    h = await _auth(client)
    r = await client.post(
        "/v1/do-not-call", json={"phone": "+971 50 123-4567", "reason": "asked by email"}, headers=h
    )
    assert r.status_code == 201, r.text
    assert r.json()["phone"] == "+971501234567" and r.json()["source"] == "manual"
    r = await client.post("/v1/do-not-call", json={"phone": "+971501234567"}, headers=h)
    assert r.status_code == 409 and "already on your do-not-call list" in r.json()["detail"]
    r = await client.post("/v1/do-not-call", json={"phone": "0501234567"}, headers=h)
    assert r.status_code == 400 and "E.164" in r.json()["detail"]

    listed = (await client.get("/v1/do-not-call", headers=h)).json()
    assert listed["total"] == 1 and listed["entries"][0]["reason"] == "asked by email"
    # Another account sees none of it.
    other = await _auth(client, "other@example.com")
    assert (await client.get("/v1/do-not-call", headers=other)).json()["total"] == 0

    # A batch to the listed number records the lead as failed and dials nothing.
    r = await client.post("/calls", json=payload(), headers=h)
    assert r.status_code == 200
    assert r.json()["calls"][0]["status"] == "failed"
    assert "do-not-call" in r.json()["calls"][0]["error"]

    r = await client.delete("/v1/do-not-call/%2B971501234567", headers=h)
    assert r.status_code == 204
    r = await client.delete("/v1/do-not-call/%2B971501234567", headers=h)
    assert r.status_code == 404
    assert (await client.get("/v1/do-not-call", headers=h)).json()["total"] == 0
    assert (await client.get("/v1/do-not-call")).status_code == 401


async def test_import_is_all_or_nothing(client):
    h = await _auth(client)
    await client.post("/v1/do-not-call", json={"phone": "+971501234567"}, headers=h)
    bad = "phone,name\n+971501234568,Sam\n0501234569,Bad\n+971501234570\nnot a number\n"
    r = await client.post("/v1/do-not-call/import", json={"text": bad}, headers=h)
    assert r.status_code == 400
    detail = r.json()["detail"]
    assert detail.startswith("Nothing was imported: 2 bad line(s)")
    assert "line 3: '0501234569'" in detail and "line 5:" in detail
    assert (await client.get("/v1/do-not-call", headers=h)).json()["total"] == 1

    good = 'phone,name\n"+971 50 123 4568",Sam\n+971501234567\n+971501234568\n\n+971501234570\n'
    r = await client.post("/v1/do-not-call/import", json={"text": good}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json() == {"added": 2, "already_listed": 1}
    phones = {
        e["phone"] for e in (await client.get("/v1/do-not-call", headers=h)).json()["entries"]
    }
    assert phones == {"+971501234567", "+971501234568", "+971501234570"}
    r = await client.post("/v1/do-not-call/import", json={"text": "phone\n"}, headers=h)
    assert r.status_code == 400 and "no phone numbers" in r.json()["detail"]
