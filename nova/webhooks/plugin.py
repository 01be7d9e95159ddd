"""Webhooks' plug-in hooks: fan lifecycle events out into delivery rows (exactly once, in
the task's transaction), and run the delivery loop inside the background runner."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession

from nova.core import retention
from nova.core.events import subscribe
from nova.core.runner import background_service, once_across_replicas, scheduled
from nova.core.settings import Settings, get_settings
from nova.models.events import Event
from nova.webhooks import service
from nova.webhooks.delivery import Deliverer
from nova.webhooks.schemas import EVENT_TYPES


# Only customers have webhooks: anonymous demo calls (no customer_id) queue nothing.
@subscribe(
    *EVENT_TYPES,
    name="webhooks.fanout",
    max_attempts=20,
    batch=200,
    when=lambda data: data.get("customer_id") is not None,
)
async def fan_out(session: AsyncSession, events: list[Event]) -> None:
    """Create the delivery rows of a batch of events, in the pump's transaction (so exactly
    once per event); the commit wakes the delivery loop."""
    await service.fan_out_many(session, events)


@background_service("webhooks.deliver")
async def deliver_forever(settings: Settings, stop: asyncio.Event) -> None:
    await Deliverer(settings).run_forever(stop)


@scheduled("webhooks.retention", type="interval", minutes=retention.INTERVAL_MINUTES)
async def prune_deliveries() -> int:
    """Delete finished deliveries older than ``webhook_delivery_retention_days``."""
    async with once_across_replicas("webhooks.retention") as leader:
        if not leader:
            return 0
        return await service.prune_deliveries(get_settings())
