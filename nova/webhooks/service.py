"""Webhook subscriptions and the fan-out of lifecycle events into delivery rows.

Services never commit; the request's session (or the task pump's) does.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from nova.core import clock, netguard, retention
from nova.core.errors import BadRequest, NotFound, TooManyRequests
from nova.core.ratelimit import get_limiter
from nova.core.settings import Settings
from nova.models.events import Event
from nova.models.user import User
from nova.models.webhooks import Webhook, WebhookDelivery
from nova.webhooks import delivery
from nova.webhooks.delivery import allowed_networks, mark_wake
from nova.webhooks.schemas import EVENT_TYPES
from nova.webhooks.signing import generate_secret, seal_key

# How long registration waits for DNS before accepting a name that has not resolved.
REGISTRATION_DNS_TIMEOUT = 3.0


def validate_events(events: list[str]) -> list[str]:
    unknown = sorted({e for e in events if e not in EVENT_TYPES})
    if unknown:
        raise BadRequest(
            f"Unknown event type(s): {', '.join(unknown)}. Allowed: {', '.join(EVENT_TYPES)}"
        )
    if not events:
        raise BadRequest("Subscribe to at least one event type")
    return list(dict.fromkeys(events))


async def validate_url(settings: Settings, url: str) -> str:
    """HTTPS only; a literal or resolved private/internal address is refused. A name that
    does not resolve (yet) is accepted: every delivery resolves and vets it again."""
    try:
        return await netguard.vet_url(
            url,
            allowed=allowed_networks(settings),
            accept_unresolved=True,
            dns_timeout=REGISTRATION_DNS_TIMEOUT,
        )
    except netguard.UnsafeTarget as exc:
        raise BadRequest(f"Invalid webhook URL: {exc}") from exc


async def create_webhook(
    session: AsyncSession, settings: Settings, user: User, *, url: str, events: list[str]
) -> tuple[Webhook, str]:
    """Returns the webhook and its raw secret (the only time it exists outside the caller)."""
    events = validate_events(events)
    url = await validate_url(settings, url)
    active = await session.scalar(
        select(func.count())
        .select_from(Webhook)
        .where(Webhook.user_id == user.id, Webhook.is_active)
    )
    if (active or 0) >= settings.webhook_max_per_user:
        raise BadRequest(
            f"Webhook limit reached: at most {settings.webhook_max_per_user} active webhooks"
        )
    raw = generate_secret()
    hook = Webhook(user_id=user.id, url=url, events=events, signing_key=seal_key(settings, raw))
    session.add(hook)
    await session.flush()
    return hook, raw


async def list_webhooks(
    session: AsyncSession, user: User, *, include_inactive: bool = False
) -> list[Webhook]:
    q = select(Webhook).where(Webhook.user_id == user.id)
    if not include_inactive:
        q = q.where(Webhook.is_active)
    return list((await session.execute(q.order_by(Webhook.created_at, Webhook.id))).scalars())


async def get_owned(session: AsyncSession, user: User, webhook_id: str) -> Webhook:
    """The caller's webhook; someone else's is indistinguishable from a missing one (404)."""
    hook = await session.get(Webhook, webhook_id)
    if hook is None or hook.user_id != user.id:
        raise NotFound("Webhook not found")
    return hook


async def deactivate(session: AsyncSession, user: User, webhook_id: str) -> None:
    """Soft delete (idempotent). Deliveries not yet attempted are cancelled."""
    hook = await get_owned(session, user, webhook_id)
    if not hook.is_active:
        return
    hook.is_active = False
    hook.updated_at = clock.now()
    await session.execute(
        update(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == hook.id, WebhookDelivery.status == "pending")
        .values(status="failed", error_message="webhook was deleted", next_attempt_at=None)
        .execution_options(synchronize_session=False)
    )


async def list_deliveries(
    session: AsyncSession, user: User, webhook_id: str, *, limit: int = 50
) -> list[WebhookDelivery]:
    hook = await get_owned(session, user, webhook_id)
    q = (
        select(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == hook.id)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
        .limit(limit)
    )
    return list((await session.execute(q)).scalars())


def fake_call_started(user_id: str) -> dict[str, Any]:
    """A realistic ``call.started`` data object for test deliveries."""
    context_id = str(uuid.uuid4())
    return {
        "call_id": str(uuid.uuid4()),
        "customer_id": user_id,
        "context_id": context_id,
        "room_name": f"call-{context_id}",
        "mode": "demo",
        "goal": "qualify_interest",
        "to_phone_e164": "+15555550100",
        "started_at": clock.now().strftime("%Y-%m-%dT%H:%M:%SZ"),
        "test": True,
    }


async def create_test_delivery(
    session: AsyncSession, settings: Settings, user: User, webhook_id: str
) -> tuple[WebhookDelivery, Webhook]:
    """A ``call.started`` delivery for one webhook, already claimed by the caller (who sends
    the first attempt itself; later attempts, if any, go through the delivery loop)."""
    hook = await get_owned(session, user, webhook_id)
    if not hook.is_active:
        raise BadRequest("Webhook is inactive")
    decision = await get_limiter(settings).hit(
        f"webhooks.test:{hook.id}", settings.webhook_test_rate_limit, 60
    )
    if not decision.allowed:
        raise TooManyRequests(
            "Too many test deliveries for this webhook; try again later",
            retry_after=decision.retry_after,
        )
    now = clock.now()
    row = WebhookDelivery(
        webhook_id=hook.id,
        event_id=str(uuid.uuid4()),
        event_type="call.started",
        payload=fake_call_started(user.id),
        status="delivering",
        attempt_count=1,
        next_attempt_at=now,
        locked_until=now + timedelta(seconds=settings.webhook_lease_seconds),
        lease_id=uuid.uuid4().hex,
        created_at=now,
    )
    session.add(row)
    await session.flush()
    return row, hook


async def fan_out(session: AsyncSession, event: Event) -> int:
    return await fan_out_many(session, [event])


async def fan_out_many(session: AsyncSession, events: Sequence[Event | None]) -> int:
    """One pending delivery per (event, active webhook of the event's customer subscribed to
    its type). Idempotent: a (webhook, event) pair that already has a delivery is skipped.
    A handful of queries for the whole batch, whatever its size."""
    wanted = [
        e
        for e in events
        if e is not None and e.type in EVENT_TYPES and (e.data or {}).get("customer_id")
    ]
    if not wanted:
        return 0
    customers = {str(e.data["customer_id"]) for e in wanted}
    hooks = (
        await session.execute(
            select(
                Webhook.id, Webhook.user_id, Webhook.events, Webhook.url, Webhook.signing_key
            ).where(Webhook.user_id.in_(customers), Webhook.is_active)
        )
    ).all()
    if not hooks:
        return 0
    by_customer: dict[str, list[Any]] = {}
    for h in hooks:
        by_customer.setdefault(h.user_id, []).append(h)
    pairs = [
        (h, e)
        for e in wanted
        for h in by_customer.get(str(e.data["customer_id"]), ())
        if e.type in (h.events or ())
    ]
    if not pairs:
        return 0
    existing = await session.execute(
        select(WebhookDelivery.webhook_id, WebhookDelivery.event_id).where(
            WebhookDelivery.webhook_id.in_({h.id for h, _ in pairs}),
            WebhookDelivery.event_id.in_({e.id for _, e in pairs}),
        )
    )
    done = {(r[0], r[1]) for r in existing.all()}
    now = clock.now()
    # When a delivery loop runs in this process, rows it has room for are inserted already
    # leased to it and handed over at commit (no claim round trip); the rest wait as pending.
    local, room = delivery.local_deliverer()
    lease = uuid.uuid4().hex
    locked_until = now + timedelta(seconds=local.lease_seconds) if local else None
    rows: list[dict[str, Any]] = []
    jobs: list[delivery.Job] = []
    for h, e in pairs:
        if (h.id, e.id) in done:
            continue
        row = {
            "id": str(uuid.uuid4()),
            "webhook_id": h.id,
            "event_id": e.id,
            "event_type": e.type,
            "payload": dict(e.data),
            "status": "pending",
            "attempt_count": 0,
            "next_attempt_at": now,
            "locked_until": None,
            "lease_id": None,
            "created_at": now,
        }
        if len(jobs) < room:
            row.update(status="delivering", attempt_count=1, locked_until=locked_until)
            row["lease_id"] = lease
            jobs.append(
                delivery.Job(
                    id=row["id"],
                    webhook_id=h.id,
                    event_type=e.type,
                    data=row["payload"],
                    attempt=1,
                    lease_id=lease,
                    url=h.url,
                    signing_key=h.signing_key,
                    active=True,
                )
            )
        rows.append(row)
    if rows:
        # A Core executemany: no ORM objects (constructing SQLModel instances costs more
        # than the insert itself at hundreds of events per second).
        await session.execute(insert(WebhookDelivery.__table__), rows)
        if jobs:
            delivery.hand_off(session, jobs)
        if len(jobs) < len(rows):
            mark_wake(session)
    return len(rows)


async def prune_deliveries(settings: Settings, *, batch: int | None = None) -> int:
    """Delete succeeded and failed deliveries created more than
    ``webhook_delivery_retention_days`` ago. Pending ones (still being retried) stay."""
    before = retention.cutoff(settings.webhook_delivery_retention_days)
    if before is None:
        return 0
    table = WebhookDelivery.__table__  # type: ignore[attr-defined]
    return await retention.delete_in_batches(
        table,
        and_(table.c.created_at < before, table.c.status.in_(("succeeded", "failed"))),
        batch=batch,
    )
