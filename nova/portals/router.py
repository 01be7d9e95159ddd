from __future__ import annotations

import time
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from nova.api.deps import CurrentUser, SessionDep, SettingsDep
from nova.api.params import Offset
from nova.core import netguard
from nova.core.errors import BadRequest
from nova.portals import service
from nova.portals.schemas import (
    IntegrationCreate,
    IntegrationOut,
    IntegrationUpdate,
    IntegrationWithSecret,
    LeadOut,
    Portal,
    ReceiverAck,
)

router = APIRouter(tags=["portals"])

# Links the qualification call uses: the website is fetched for the brief, the booking and
# payment links are sent to the lead. Vetted as POST /calls vets them.
_LINK_FIELDS = ("website_url", "booking_link", "payment_link")


def _vet_links(settings, body: IntegrationCreate | IntegrationUpdate) -> None:
    """400 unless every link is a public http(s) URL (no file:, no loopback or private
    literal address; names are resolved and vetted again when fetched)."""
    allowed = netguard.parse_networks(settings.ssrf_allow_cidrs)
    for field in _LINK_FIELDS:
        value = getattr(body, field, None)
        if value is None:
            continue
        try:
            netguard.check_url(value, schemes=("https", "http"), allowed=allowed)
        except netguard.UnsafeTarget as exc:
            raise BadRequest(f"{field} must be a public http(s) URL: {exc}") from None


# --- integrations (bearer) ---------------------------------------------------------------


@router.post(
    "/portals/integrations",
    status_code=status.HTTP_201_CREATED,
    response_model=IntegrationWithSecret,
)
async def create_integration(
    body: IntegrationCreate, user: CurrentUser, session: SessionDep, settings: SettingsDep
):
    _vet_links(settings, body)
    integ, secret = await service.create_integration(session, settings, user.id, body)
    return IntegrationWithSecret(**service.to_out(settings, integ).model_dump(), secret=secret)


@router.get("/portals/integrations", response_model=list[IntegrationOut])
async def list_integrations(user: CurrentUser, session: SessionDep, settings: SettingsDep):
    return [service.to_out(settings, i) for i in await service.list_integrations(session, user.id)]


@router.get("/portals/integrations/{integration_id}", response_model=IntegrationOut)
async def get_integration(
    integration_id: str, user: CurrentUser, session: SessionDep, settings: SettingsDep
):
    return service.to_out(settings, await service.get_owned(session, user.id, integration_id))


@router.patch("/portals/integrations/{integration_id}", response_model=IntegrationOut)
async def update_integration(
    integration_id: str,
    body: IntegrationUpdate,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
):
    _vet_links(settings, body)
    integ = await service.get_owned(session, user.id, integration_id)
    service.update_integration(integ, body)
    return service.to_out(settings, integ)


@router.post(
    "/portals/integrations/{integration_id}/rotate-secret", response_model=IntegrationWithSecret
)
async def rotate_secret(
    integration_id: str, user: CurrentUser, session: SessionDep, settings: SettingsDep
):
    integ = await service.get_owned(session, user.id, integration_id)
    secret = service.rotate_secret(settings, integ)
    return IntegrationWithSecret(**service.to_out(settings, integ).model_dump(), secret=secret)


@router.delete("/portals/integrations/{integration_id}", status_code=status.HTTP_204_NO_CONTENT)
async def disable_integration(integration_id: str, user: CurrentUser, session: SessionDep):
    integ = await service.get_owned(session, user.id, integration_id)
    integ.enabled = False
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/portals/integrations/{integration_id}/leads", response_model=list[LeadOut])
async def list_leads(
    integration_id: str,
    user: CurrentUser,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Offset = 0,
):
    integ = await service.get_owned(session, user.id, integration_id)
    return await service.list_leads(session, integ.id, limit, offset)


# --- receivers (HMAC signed) -------------------------------------------------------------


async def _receive(
    portal: Portal, integration_id: str | None, request: Request, settings
) -> ReceiverAck:
    started = time.perf_counter()
    lead, lead_id, duplicate = await service.receive(
        settings,
        portal,
        integration_id,
        await request.body(),
        request.headers.get(service.SIGNATURE_HEADERS[portal]),
    )
    return ReceiverAck(
        accepted=True,
        lead_id=lead_id,
        event_id=lead.event_id,
        duplicate=duplicate,
        elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
    )


@router.post("/webhooks/property-finder", response_model=ReceiverAck)
async def property_finder(request: Request, settings: SettingsDep):
    return await _receive("property_finder", None, request, settings)


@router.post("/webhooks/property-finder/{integration_id}", response_model=ReceiverAck)
async def property_finder_for(integration_id: str, request: Request, settings: SettingsDep):
    return await _receive("property_finder", integration_id, request, settings)


@router.post("/webhooks/bayut", response_model=ReceiverAck)
async def bayut(request: Request, settings: SettingsDep):
    return await _receive("bayut", None, request, settings)


@router.post("/webhooks/bayut/{integration_id}", response_model=ReceiverAck)
async def bayut_for(integration_id: str, request: Request, settings: SettingsDep):
    return await _receive("bayut", integration_id, request, settings)
