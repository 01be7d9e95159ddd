"""Retention of webhook deliveries: succeeded and failed rows older than
``webhook_delivery_retention_days`` are deleted; pending ones never are."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from nova.core.db import session_scope
from nova.core.runner import _scheduled
from nova.models.webhooks import Webhook, WebhookDelivery
from nova.webhooks import plugin, service


async def _hook(user_id: str) -> str:
    async with session_scope() as s:
        hook = Webhook(
            user_id=user_id, url="https://hooks.example.com/x", events=[], signing_key="sealed"
        )
        s.add(hook)
        await s.flush()
        return hook.id


async def _delivery(hook_id: str, status: str) -> str:
    async with session_scope() as s:
        row = WebhookDelivery(
            webhook_id=hook_id,
            event_id=str(uuid.uuid4()),
            event_type="call.ended",
            payload={},
            status=status,
        )
        s.add(row)
        await s.flush()
        return row.id


async def _left() -> set[str]:
    async with session_scope() as s:
        return set((await s.execute(select(WebhookDelivery.id))).scalars())


async def test_finished_deliveries_past_the_retention_are_deleted(client, user, clock, settings):
    settings.webhook_delivery_retention_days = 30
    hook = await _hook(user["user"]["id"])
    old = {s: await _delivery(hook, s) for s in ("succeeded", "failed", "pending")}
    clock.advance(days=30, seconds=1)
    new = await _delivery(hook, "succeeded")

    assert await service.prune_deliveries(settings, batch=1) == 2
    assert await _left() == {old["pending"], new}

    r = await client.get(f"/v1/webhooks/{hook}/deliveries", headers=user["headers"])
    assert r.status_code == 200
    assert {d["id"] for d in r.json()} == {old["pending"], new}


async def test_zero_days_keeps_every_delivery(user, clock, settings):
    settings.webhook_delivery_retention_days = 0
    hook = await _hook(user["user"]["id"])
    kept = await _delivery(hook, "succeeded")
    clock.advance(days=3650)
    assert await service.prune_deliveries(settings) == 0
    assert await _left() == {kept}


async def test_the_job_is_scheduled_and_runs(user, clock, settings):
    assert "webhooks.retention" in {job.name for job in _scheduled}
    settings.webhook_delivery_retention_days = 1
    hook = await _hook(user["user"]["id"])
    await _delivery(hook, "failed")
    clock.advance(days=2)
    assert await plugin.prune_deliveries() == 1
    assert await _left() == set()
