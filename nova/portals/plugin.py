"""Background dispatch of portal leads: one qualification call per lead, placed through the
same service as POST /calls. Failures that retrying cannot fix (invalid phone, no minutes,
missing account) are recorded on the lead; transient ones are retried by the pump."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from nova import compliance
from nova.core import clock
from nova.core.errors import NovaError
from nova.core.events import task_handler
from nova.core.settings import get_settings
from nova.models.portals import PortalIntegration, PortalLead
from nova.models.user import User
from nova.portals.schemas import normalise
from nova.portals.service import DISPATCH_TASK

log = logging.getLogger("nova.portals")


def _brief_context(integ: PortalIntegration, lead: PortalLead) -> str:
    parts = [integ.context or ""]
    listing = ", ".join(x for x in (lead.listing_reference, lead.listing_title) if x)
    details = normalise(lead.portal, lead.payload).listing_details if lead.payload else None
    if listing:
        parts.append(f"The lead enquired about listing {listing}.")
    if details:
        parts.append(f"Listing details: {details}.")
    if lead.message:
        parts.append(f'Their message: "{lead.message.strip()[:1000]}"')
    parts.append(
        "They enquired on the portal minutes ago: reference the listing, confirm their "
        "interest, budget, timeline and whether they are a buyer, tenant or investor."
    )
    return "\n".join(p for p in parts if p).strip()


def _fail(lead: PortalLead, reason: str) -> None:
    lead.status = "failed"
    lead.error = reason[:1000]
    lead.dispatched_at = clock.now()
    log.info("portal lead %s not called: %s", lead.id, reason)


@compliance.dnc.on_opt_out
async def _drop_deferred_leads(session: AsyncSession, owner_id: str, phone: str) -> None:
    """A number that opts out (on any call of the account) is not called for a portal lead
    that was waiting for its window: those leads end now, with the reason."""
    rows = await session.execute(
        select(PortalLead)
        .join(PortalIntegration, PortalIntegration.id == PortalLead.integration_id)
        .where(PortalIntegration.user_id == owner_id, PortalLead.status == "deferred")
    )
    for lead in rows.scalars():
        try:
            same = compliance.dnc.parse_phone(lead.phone, None) == phone
        except ValueError:
            same = False
        if same:
            _fail(lead, f"Not dialed: {compliance.dnc.BLOCKED_REASON} (the lead opted out)")


@task_handler(DISPATCH_TASK, max_attempts=6, retry_delays=(1, 5, 15, 60, 300))
async def dispatch_lead(session: AsyncSession, payload: dict) -> None:
    from pydantic import ValidationError

    from nova.calls import service as calls
    from nova.calls.schemas import CallBatchRequest

    lead = await session.get(PortalLead, payload["lead_id"])
    if lead is None or lead.status not in ("received", "deferred"):
        return  # already handled (at-least-once delivery)
    integ = await session.get(PortalIntegration, lead.integration_id)
    user = await session.get(User, integ.user_id) if integ else None
    if integ is None or user is None:
        _fail(lead, "integration or account no longer exists")
        return
    try:
        request = CallBatchRequest.model_validate(
            {
                "owner_email": integ.owner_email,
                "product": integ.product,
                "website_url": integ.website_url,
                "context": _brief_context(integ, lead),
                "goal": integ.goal,
                "language": integ.language,
                "booking_link": integ.booking_link,
                "payment_link": integ.payment_link,
                "consent": True,
                "leads": [
                    {
                        "phone": lead.phone,
                        "name": lead.name,
                        "email": lead.email,
                        # The enquiry itself is the lead's request to be contacted.
                        "consent": {
                            "source": f"{lead.portal} enquiry",
                            "obtained_at": min(
                                lead.lead_timestamp or lead.received_at, lead.received_at
                            ),
                            "proof": f"{lead.portal} event {lead.event_id}",
                        },
                    }
                ],
            }
        )
    except ValidationError as exc:
        _fail(lead, "; ".join(e["msg"] for e in exc.errors()[:3]))
        return
    # End the read transaction before the slow part (website, briefs, LiveKit): on SQLite
    # an open transaction is the single writer and would stall every receiver meanwhile.
    # The dial pipeline commits its own steps; the lead is the batch's key, so a re-run of
    # this task after a crash resumes the lead's call instead of placing a second one.
    await session.commit()
    try:
        result = await calls.place_calls(
            session, get_settings(), request, user, batch_id=lead.id, purpose="portal"
        )
    except NovaError as exc:  # 400 invalid phone, 402 no minutes, ...
        await session.rollback()
        lead = await session.get(PortalLead, payload["lead_id"])
        assert lead is not None
        _fail(lead, str(exc.detail))
        return
    outcome = result.calls[0]
    lead.call_id = outcome.call_id
    lead.dispatched_at = clock.now()
    if outcome.status == "failed":
        lead.status = "failed"
        lead.error = outcome.error or outcome.message or "dispatch failed"
    elif outcome.status == "pending":  # deferred by the compliance gate: dialed later
        lead.status = "deferred"
        lead.error = outcome.message
    else:
        lead.status = "dispatched"
