"""Portal integrations: configuration, signature checks, lead intake and background dispatch.

The receiver only verifies, records and enqueues (one transaction), so it acknowledges in
milliseconds; the qualification call is placed by the ``portals.dispatch`` task through the
same path as ``POST /calls`` (briefs, metering, telephony), with the listing in the brief.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import logging
import secrets
from dataclasses import dataclass
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import ValidationError
from sqlalchemy import bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from nova.core import clock, jsonsafe
from nova.core.errors import BadRequest, Conflict, NotFound, ServiceUnavailable, Unauthorized
from nova.core.events import task_row
from nova.core.settings import Settings
from nova.models.base import new_id
from nova.models.portals import PortalIntegration, PortalLead
from nova.portals import repository
from nova.portals.schemas import (
    IntegrationCreate,
    IntegrationOut,
    IntegrationUpdate,
    NormalisedLead,
    Portal,
    normalise,
)

log = logging.getLogger("nova.portals")

PORTAL_PATHS: dict[str, str] = {"property_finder": "property-finder", "bayut": "bayut"}
SIGNATURE_HEADERS: dict[str, str] = {
    "property_finder": "X-PropertyFinder-Signature",
    "bayut": "X-Bayut-Signature",
}
DISPATCH_TASK = "portals.dispatch"


# --- secrets at rest ------------------------------------------------------------------------


def _fernet(settings: Settings) -> Fernet:
    """Fernet with NOVA_ENCRYPTION_KEY, or a key derived from the JWT secret (development)."""
    if settings.encryption_key is not None:
        return _fernet_for(settings.encryption_key.get_secret_value(), None)
    return _fernet_for(None, settings.jwt_secret.get_secret_value())


@functools.lru_cache(maxsize=4)
def _fernet_for(encryption_key: str | None, jwt_secret: str | None) -> Fernet:
    if encryption_key is not None:
        return Fernet(encryption_key.encode())
    assert jwt_secret is not None
    derived = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=b"nova", info=b"nova-portal-secrets"
    ).derive(jwt_secret.encode())
    return Fernet(base64.urlsafe_b64encode(derived))


def seal(settings: Settings, secret: str) -> str:
    return _fernet(settings).encrypt(secret.encode()).decode()


def unseal(settings: Settings, ciphertext: str) -> str:
    try:
        return _unseal(_fernet(settings), ciphertext)
    except InvalidToken as exc:  # the key changed: the receiver cannot verify anything
        raise ServiceUnavailable("Portal secret cannot be decrypted: re-issue the secret") from exc


# Receivers decrypt their integration's secret on every delivery; the plaintext of the few
# live secrets stays in memory (as the key that decrypts them does). A rotated secret has a
# new ciphertext, so a stale entry is never used.
@functools.lru_cache(maxsize=256)
def _unseal(fernet: Fernet, ciphertext: str) -> str:
    return fernet.decrypt(ciphertext.encode()).decode()


# --- integrations API -------------------------------------------------------------------------


def to_out(settings: Settings, integ: PortalIntegration) -> IntegrationOut:
    base = settings.public_url.rstrip("/")
    return IntegrationOut(
        id=integ.id,
        portal=integ.portal,  # type: ignore[arg-type]
        enabled=integ.enabled,
        secret_last4=integ.secret_last4,
        product=integ.product,
        context=integ.context,
        goal=integ.goal,  # type: ignore[arg-type]
        language=integ.language,  # type: ignore[arg-type]
        booking_link=integ.booking_link,
        payment_link=integ.payment_link,
        website_url=integ.website_url,
        owner_email=integ.owner_email,
        receiver_url=f"{base}/webhooks/{PORTAL_PATHS[integ.portal]}/{integ.id}",
        created_at=integ.created_at,
        updated_at=integ.updated_at,
    )


def new_secret() -> str:
    return "pk_" + secrets.token_urlsafe(32)


async def create_integration(
    session: AsyncSession, settings: Settings, user_id: str, body: IntegrationCreate
) -> tuple[PortalIntegration, str]:
    secret = new_secret()
    now = clock.now()
    integ = PortalIntegration(
        user_id=user_id,
        secret_ciphertext=seal(settings, secret),
        secret_last4=secret[-4:],
        created_at=now,
        updated_at=now,
        **body.model_dump(mode="json"),
    )
    try:
        async with session.begin_nested():
            session.add(integ)
            await session.flush()
    except IntegrityError as exc:
        raise Conflict(
            f"A {body.portal} integration already exists for this account: update it instead"
        ) from exc
    return integ, secret


async def get_owned(session: AsyncSession, user_id: str, integration_id: str) -> PortalIntegration:
    integ = await session.get(PortalIntegration, integration_id)
    if integ is None or integ.user_id != user_id:
        raise NotFound("Integration not found")
    return integ


async def list_integrations(session: AsyncSession, user_id: str) -> list[PortalIntegration]:
    rows = await session.execute(
        select(PortalIntegration)
        .where(PortalIntegration.user_id == user_id)
        .order_by(PortalIntegration.created_at)
    )
    return list(rows.scalars())


def update_integration(integ: PortalIntegration, body: IntegrationUpdate) -> None:
    changes = body.model_dump(mode="json", exclude_unset=True)
    merged = {
        "goal": changes.get("goal", integ.goal),
        "booking_link": changes.get("booking_link", integ.booking_link),
        "payment_link": changes.get("payment_link", integ.payment_link),
    }
    if merged["goal"] == "book_meeting" and not merged["booking_link"]:
        raise BadRequest("booking_link is required when goal is book_meeting")
    if merged["goal"] == "close_sale" and not merged["payment_link"]:
        raise BadRequest("payment_link is required when goal is close_sale")
    for key, value in changes.items():
        if key in ("product", "owner_email", "goal", "language", "enabled") and value is None:
            raise BadRequest(f"{key} cannot be null")
        setattr(integ, key, value)
    integ.updated_at = clock.now()


def rotate_secret(settings: Settings, integ: PortalIntegration) -> str:
    secret = new_secret()
    integ.secret_ciphertext = seal(settings, secret)
    integ.secret_last4 = secret[-4:]
    integ.updated_at = clock.now()
    return secret


async def list_leads(
    session: AsyncSession, integration_id: str, limit: int, offset: int
) -> list[PortalLead]:
    rows = await session.execute(
        select(PortalLead)
        .where(PortalLead.integration_id == integration_id)
        .order_by(PortalLead.received_at.desc(), PortalLead.id)
        .limit(limit)
        .offset(offset)
    )
    leads = list(rows.scalars())
    await _settle_deferred(session, leads)
    return leads


async def _settle_deferred(session: AsyncSession, leads: list[PortalLead]) -> None:
    """A lead deferred by the compliance gate waits as a ``pending`` call that the dial
    pipeline places when its window opens: once that call has left ``pending``, the lead
    says what became of it (written back, so this is done once per lead)."""
    from nova.models.calls import Call

    waiting = {lead.call_id: lead for lead in leads if lead.status == "deferred" and lead.call_id}
    if not waiting:
        return
    rows = await session.execute(
        select(Call.id, Call.status, Call.error).where(Call.id.in_(list(waiting)))
    )
    for call_id, status, error in rows.all():
        if status == "pending":
            continue
        lead = waiting[call_id]
        lead.status = "failed" if status == "failed" else "dispatched"
        lead.error = (error or "dispatch failed")[:1000] if status == "failed" else None


# --- receiver ----------------------------------------------------------------------------------


# What a receiver needs of its integration, read as plain columns (loading the ORM entity
# cost more than the rest of the receiver's SQL).
_RECEIVER_COLUMNS = (
    PortalIntegration.id,
    PortalIntegration.portal,
    PortalIntegration.enabled,
    PortalIntegration.secret_ciphertext,
)
_INTEGRATION_BY_ID = select(*_RECEIVER_COLUMNS).where(PortalIntegration.id == bindparam("id"))
# The bare path (/webhooks/<portal>) belongs to the first integration ever configured for
# that portal, for good: integrations are never deleted, only disabled, so nothing another
# account does (configuring the same portal, disabling its own) changes where it delivers.
_FIRST_FOR_PORTAL = (
    select(*_RECEIVER_COLUMNS)
    .where(PortalIntegration.portal == bindparam("portal"))
    .order_by(PortalIntegration.created_at, PortalIntegration.id)
    .limit(1)
)


@dataclass(frozen=True, slots=True)
class ReceiverIntegration:
    id: str
    portal: str
    enabled: bool
    secret_ciphertext: str


async def resolve_integration(
    session: AsyncSession | AsyncConnection, portal: Portal, integration_id: str | None
) -> ReceiverIntegration:
    """The integration a delivery belongs to, or 503/404 when there is none to receive it."""
    path = PORTAL_PATHS[portal]
    if integration_id is not None:
        row = (await session.execute(_INTEGRATION_BY_ID, {"id": integration_id})).first()
        if row is None or row.portal != portal:
            raise NotFound("Unknown portal integration")
        if not row.enabled:
            raise ServiceUnavailable(f"The {path} receiver is disabled for this integration")
        return ReceiverIntegration(*row)
    row = (await session.execute(_FIRST_FOR_PORTAL, {"portal": portal})).first()
    if row is None:
        raise ServiceUnavailable(
            f"The {path} receiver is not enabled: no integration with a shared secret is configured"
        )
    if not row.enabled:
        raise ServiceUnavailable(f"The {path} receiver is disabled for this integration")
    return ReceiverIntegration(*row)


def verify_signature(secret: str, body: bytes, header: str | None) -> None:
    """Constant-time check of ``sha256=<hex>`` = HMAC-SHA256(secret, raw body)."""
    if not header:
        raise Unauthorized("Missing signature header", headers={})
    if not header.startswith("sha256="):
        raise Unauthorized("Malformed signature: expected 'sha256=<hex>'", headers={})
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected.encode(), header.strip().encode()):
        raise Unauthorized("Invalid signature", headers={})


def parse_payload(portal: Portal, body: bytes) -> tuple[NormalisedLead, dict[str, Any]]:
    try:
        raw = jsonsafe.loads(body)
    except jsonsafe.TooDeep as exc:
        raise BadRequest(f"Payload is {exc}") from exc
    except jsonsafe.InvalidJSON as exc:
        raise BadRequest("Payload is not valid JSON") from exc
    if not isinstance(raw, dict):
        raise BadRequest("Payload must be a JSON object")
    try:
        return normalise(portal, raw), raw
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}" for e in exc.errors()[:5]
        )
        raise BadRequest(
            f"Payload failed {PORTAL_PATHS[portal]} schema validation: {problems}"
        ) from exc


def _lead_row(integ: ReceiverIntegration, lead: NormalisedLead, raw: dict[str, Any]) -> dict:
    return {
        "id": new_id(),
        "integration_id": integ.id,
        "portal": integ.portal,
        "event_id": lead.event_id,
        "listing_reference": lead.listing_reference,
        "listing_title": lead.listing_title,
        "name": lead.name,
        "phone": lead.phone,
        "email": lead.email,
        "message": lead.message,
        "lead_timestamp": lead.timestamp,
        "payload": raw,
        "status": "received",
        "received_at": clock.now(),
    }


async def receive(
    settings: Settings,
    portal: Portal,
    integration_id: str | None,
    body: bytes,
    signature: str | None,
) -> tuple[NormalisedLead, str, bool]:
    """A portal delivery: find its integration (503/404), check its signature (401), parse
    it (400), then record the lead and queue its call in one write (a replay of the same
    event records nothing). Returns (lead, lead id, duplicate)."""
    async with repository.receiver_db() as db:
        integ = await resolve_integration(db, portal, integration_id)
        verify_signature(unseal(settings, integ.secret_ciphertext), body, signature)
        lead, raw = parse_payload(portal, body)
        row = _lead_row(integ, lead, raw)
        task = task_row(DISPATCH_TASK, {"lead_id": row["id"]}, run_at=row["received_at"])
        lead_id, duplicate = await repository.record_lead(db, row, task)
    return lead, lead_id, duplicate


async def lead_counts(session: AsyncSession, integration_id: str) -> dict[str, int]:
    rows = await session.execute(
        select(PortalLead.status, func.count())
        .where(PortalLead.integration_id == integration_id)
        .group_by(PortalLead.status)
    )
    return {status: int(n) for status, n in rows.all()}
