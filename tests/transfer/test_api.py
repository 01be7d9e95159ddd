"""``/me/transfer``: the account's human number (strict E.164, owner-scoped) and how it
reaches the agent through the dispatch of SIP calls only."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import func, select

from nova.core.db import session_scope
from nova.models.transfer import TransferTarget
from nova.telephony.metadata import DispatchMetadata
from tests.calls.conftest import payload
from tests.conftest import register

HUMAN = "+14155550123"


async def test_set_read_update_and_clear(client, user, clock):
    h = user["headers"]
    r = await client.get("/me/transfer", headers=h)
    assert r.status_code == 200
    assert r.json() == {"configured": False, "phone_e164": None, "mode": None, "updated_at": None}

    r = await client.put("/me/transfer", json={"phone_e164": HUMAN}, headers=h)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "configured": True,
        "phone_e164": HUMAN,
        "mode": "warm",
        "updated_at": clock.now().isoformat().replace("+00:00", "Z"),
    }
    clock.advance(60)
    r = await client.put(
        "/me/transfer", json={"phone_e164": "+971501234567", "mode": "cold"}, headers=h
    )
    assert r.status_code == 200
    got = (await client.get("/me/transfer", headers=h)).json()
    assert (got["phone_e164"], got["mode"]) == ("+971501234567", "cold")
    assert got["updated_at"] == clock.now().isoformat().replace("+00:00", "Z")

    assert (await client.delete("/me/transfer", headers=h)).status_code == 204
    assert (await client.delete("/me/transfer", headers=h)).status_code == 204  # idempotent
    assert (await client.get("/me/transfer", headers=h)).json()["configured"] is False


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"phone_e164": "+1 415 555 0123"}, "E.164 format"),
        ({"phone_e164": "14155550123"}, "E.164 format"),
        ({"phone_e164": "+1415555012x"}, "E.164 format"),
        ({"phone_e164": "+01415555012"}, "E.164 format"),
        ({"phone_e164": "+1415555012345678"}, "E.164 format"),
        ({"phone_e164": "+14155501"}, "not a valid number"),
        ({"phone_e164": "+4402071234567"}, "canonical"),
        ({"phone_e164": "+19005550123"}, "premium-rate"),
        ({"phone_e164": HUMAN, "mode": "blind"}, "'warm' or 'cold'"),
        ({"phone_e164": HUMAN, "owner": "someone-else"}, "Extra inputs"),
        ({}, "Field required"),
    ],
)
async def test_bad_numbers_are_refused_and_nothing_is_stored(client, user, body, fragment):
    r = await client.put("/me/transfer", json=body, headers=user["headers"])
    assert r.status_code == 422
    assert fragment in str(r.json()["detail"])
    assert (await client.get("/me/transfer", headers=user["headers"])).json()["configured"] is False


async def test_needs_a_token_and_is_scoped_to_its_owner(client, user):
    assert (await client.get("/me/transfer")).status_code == 401
    assert (await client.put("/me/transfer", json={"phone_e164": HUMAN})).status_code == 401
    assert (await client.delete("/me/transfer")).status_code == 401
    other = await register(client, email="other@example.com")
    await client.put("/me/transfer", json={"phone_e164": HUMAN}, headers=user["headers"])
    assert (await client.get("/me/transfer", headers=other["headers"])).json()[
        "configured"
    ] is False
    assert (await client.delete("/me/transfer", headers=other["headers"])).status_code == 204
    mine = (await client.get("/me/transfer", headers=user["headers"])).json()
    assert mine["phone_e164"] == HUMAN


def _meta(livekit) -> DispatchMetadata:
    return DispatchMetadata.model_validate_json(
        livekit.calls("AgentDispatchService", "CreateDispatch")[-1].metadata
    )


async def test_the_number_reaches_sip_calls_only(clock, client, user, livekit, settings):
    # The frozen clock (12:30 in Dubai) keeps the SIP dials inside the UAE calling window
    # whatever the time of day the suite runs (the compliance gate).
    h = user["headers"]
    await client.put("/me/transfer", json={"phone_e164": HUMAN, "mode": "cold"}, headers=h)
    # Demo mode: nothing can be transferred, the number is not sent to the worker.
    assert (await client.post("/calls", json=payload(), headers=h)).status_code == 200
    meta = _meta(livekit)
    assert (meta.mode, meta.transfer_to) == ("demo", None)

    settings.dial_mode = "sip"
    settings.sip_outbound_trunk_id = "ST_trunk"
    assert (await client.post("/calls", json=payload(), headers=h)).status_code == 200
    meta = _meta(livekit)
    assert (meta.mode, meta.transfer_to, meta.transfer_mode) == ("sip", HUMAN, "cold")

    # Anonymous batches never dial, so never transfer either.
    assert (await client.post("/calls", json=payload())).status_code == 200
    assert (_meta(livekit).mode, _meta(livekit).transfer_to) == ("demo", None)

    # Another account's SIP calls do not get this account's number.
    other = await register(client, email="other@example.com")
    assert (
        await client.post("/calls", json=payload(), headers=other["headers"])
    ).status_code == 200
    assert (_meta(livekit).mode, _meta(livekit).transfer_to) == ("sip", None)


async def test_concurrent_first_puts_leave_one_setting(client, user):
    numbers = [f"+1415555012{i}" for i in range(5)]
    answers = await asyncio.gather(
        *(
            client.put("/me/transfer", json={"phone_e164": n}, headers=user["headers"])
            for n in numbers
        )
    )
    assert [r.status_code for r in answers] == [200] * 5
    async with session_scope() as s:
        assert await s.scalar(select(func.count()).select_from(TransferTarget)) == 1
    got = (await client.get("/me/transfer", headers=user["headers"])).json()
    assert got["phone_e164"] in numbers
