"""Outbound lifecycle webhooks: ``/v1/webhooks`` (bearer only; a user sees only their own)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response, status

from nova.api.deps import CurrentUser, SessionDep, SettingsDep
from nova.webhooks import delivery, service
from nova.webhooks.schemas import (
    DeliveryOut,
    WebhookCreate,
    WebhookCreated,
    WebhookOut,
    WebhookTestOut,
)

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


@router.post("", status_code=status.HTTP_201_CREATED, response_model=WebhookCreated)
async def create_webhook(
    body: WebhookCreate, user: CurrentUser, session: SessionDep, settings: SettingsDep
):
    """Register an HTTPS endpoint. The response carries the raw secret, shown only once."""
    hook, secret = await service.create_webhook(
        session, settings, user, url=body.url, events=body.events
    )
    return WebhookCreated(**WebhookOut.model_validate(hook).model_dump(), secret=secret)


@router.get("", response_model=list[WebhookOut])
async def list_webhooks(user: CurrentUser, session: SessionDep, include_inactive: bool = False):
    """Your webhooks (secrets are never returned); soft-deleted ones with
    ``?include_inactive=true``."""
    return await service.list_webhooks(session, user, include_inactive=include_inactive)


@router.delete("/{webhook_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_webhook(webhook_id: str, user: CurrentUser, session: SessionDep):
    """Soft delete (``is_active=false``); idempotent."""
    await service.deactivate(session, user, webhook_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/{webhook_id}/deliveries", response_model=list[DeliveryOut])
async def list_deliveries(
    webhook_id: str,
    user: CurrentUser,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
):
    """Most recent deliveries first, with status_code, attempt_count and error_message."""
    return await service.list_deliveries(session, user, webhook_id, limit=limit)


@router.post("/{webhook_id}/test", response_model=WebhookTestOut)
async def test_webhook(
    webhook_id: str, user: CurrentUser, session: SessionDep, settings: SettingsDep
):
    """Send a fake ``call.started`` delivery now and report its first attempt. A failed
    attempt is retried on the normal schedule (1 s, 5 s, 30 s)."""
    row, hook = await service.create_test_delivery(session, settings, user, webhook_id)
    job = delivery.job_for(row, hook)
    # Commit before the HTTP request: no transaction (nor SQLite write lock) is held while
    # the customer's endpoint answers. The row is leased to us until then.
    await session.commit()
    async with delivery.ClientPool(settings, max_connections=1) as pool:
        outcome = await delivery.attempt(job, pool, settings)
    await delivery.record([outcome])
    await session.refresh(row)
    return WebhookTestOut(
        **DeliveryOut.model_validate(row).model_dump(),
        delivery_id=row.id,
        message=_test_message(row),
    )


def _test_message(row) -> str:
    if row.status == "succeeded":
        return f"Delivered: your endpoint answered HTTP {row.status_code}"
    why = row.error_message or (f"HTTP {row.status_code}" if row.status_code else "no answer")
    if row.status == "failed":
        return f"Delivery failed: {why}"
    return f"First attempt failed ({why}); retrying on the normal schedule"
