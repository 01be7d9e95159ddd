"""GET /api/calls/{call_id}/quality: who may read which score."""

from __future__ import annotations

from tests.conftest import register
from tests.quality.helpers import make_call, scored_call


async def test_owner_reads_other_user_403_anonymous_401(client):
    alice = await register(client, "alice@example.com")
    bob = await register(client, "bob@example.com")
    call_id = await scored_call(alice["user"]["id"], overall=91)

    r = await client.get(f"/api/calls/{call_id}/quality", headers=alice["headers"])
    assert r.status_code == 200
    assert r.json()["score"]["overall"] == 91

    r = await client.get(f"/api/calls/{call_id}/quality", headers=bob["headers"])
    assert r.status_code == 403
    assert r.json() == {"detail": "You do not own this call"}

    r = await client.get(f"/api/calls/{call_id}/quality")
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"
    assert "score" not in r.json()

    r = await client.get(
        f"/api/calls/{call_id}/quality", headers={"Authorization": "Bearer not-a-jwt"}
    )
    assert r.status_code == 401


async def test_anonymous_demo_call_is_readable_by_id(client):
    bob = await register(client, "bob@example.com")
    call_id = await scored_call(None, overall=55)
    r = await client.get(f"/api/calls/{call_id}/quality")
    assert r.status_code == 200
    assert r.json()["score"]["overall"] == 55
    r = await client.get(f"/api/calls/{call_id}/quality", headers=bob["headers"])
    assert r.status_code == 200


async def test_unknown_call_404(client):
    alice = await register(client, "alice@example.com")
    r = await client.get("/api/calls/00000000-0000-0000-0000-000000000000/quality")
    assert r.status_code == 404
    assert r.json() == {"detail": "Call not found"}
    r = await client.get("/api/calls/nope/quality", headers=alice["headers"])
    assert r.status_code == 404


async def test_call_without_score_row_is_pending(client):
    call_id = await make_call()
    r = await client.get(f"/api/calls/{call_id}/quality")
    assert r.status_code == 200
    assert r.json() == {"call_id": call_id, "status": "pending", "scored_at": None, "score": None}
