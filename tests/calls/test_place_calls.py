"""``place_calls`` outside HTTP (how a background job places a call for a lead)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from nova.calls.schemas import CallBatchRequest
from nova.calls.service import place_calls
from nova.core.db import session_scope
from nova.core.errors import BadRequest, PaymentRequired
from nova.models.calls import Call
from nova.models.user import User
from tests.calls.conftest import payload


async def test_place_calls_in_a_background_unit_of_work(livekit, settings, user):
    async with session_scope() as s:
        owner = await s.get(User, user["user"]["id"])
        resp = await place_calls(s, settings, CallBatchRequest(**payload()), owner)
    assert resp.dispatched == 1 and resp.calls[0].status == "in_progress"
    async with session_scope() as s:
        call = (await s.execute(select(Call))).scalar_one()
    assert call.user_id == user["user"]["id"] and call.reserved_seconds == 60
    assert len(livekit.calls("AgentDispatchService", "CreateDispatch")) == 1


async def test_place_calls_validates_and_meters(livekit, settings, user):
    with pytest.raises(BadRequest, match="consent must be true"):
        async with session_scope() as s:
            await place_calls(s, settings, CallBatchRequest(**payload(consent=False)), None)
    settings.reserve_minutes_per_call = 11
    with pytest.raises(PaymentRequired):
        async with session_scope() as s:
            owner = await s.get(User, user["user"]["id"])
            await place_calls(s, settings, CallBatchRequest(**payload()), owner)
    assert not livekit.calls("AgentDispatchService", "CreateDispatch")
