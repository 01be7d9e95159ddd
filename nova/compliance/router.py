"""HTTP surface of compliance: decisions per call and per number, a dry-run check, the
country profiles, and the do-not-call list (bearer; each account sees only its own)."""

from __future__ import annotations

from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response, status

from nova.api.app import BODY_LIMIT_OVERRIDES, LIFESPAN_HOOKS
from nova.api.deps import CurrentUser, SessionDep
from nova.compliance import dnc, service
from nova.compliance.profiles import DAYS, Profile
from nova.compliance.schemas import (
    CapOut,
    CheckOut,
    DecisionOut,
    DncIn,
    DncList,
    DncOut,
    ImportReportOut,
    ProfileOut,
    WindowOut,
)
from nova.compliance.windows import zone
from nova.core.errors import BadRequest, PayloadTooLarge, UnsupportedMediaType
from nova.models.compliance import ComplianceDecision
from nova.models.worker import DoNotCall

router = APIRouter(tags=["compliance"])


@asynccontextmanager
async def _check_profiles(app: Any):
    """Load the country profiles at start-up: a profiles file that cannot be used stops
    the server here, with the reason, instead of failing the first dial."""
    service.profiles()
    yield


LIFESPAN_HOOKS.append(_check_profiles)

IMPORT_PATH = "/v1/do-not-call/import"
BODY_LIMIT_OVERRIDES[IMPORT_PATH] = dnc.MAX_IMPORT_BYTES + 64 * 1024


def _decision_out(row: ComplianceDecision) -> DecisionOut:
    return DecisionOut.model_validate(row, from_attributes=True)


def _phone(value: str, where: str = "phone") -> str:
    if value.startswith(" ") and value.strip().isdigit():
        value = "+" + value.strip()  # an unencoded "+" in a query string arrives as a space
    try:
        return dnc.parse_phone(value, None)
    except ValueError as exc:
        raise BadRequest(f"{where} {value!r}: {exc}") from None


@router.get("/v1/calls/{call_id}/compliance", response_model=list[DecisionOut])
async def call_decisions(call_id: str, user: CurrentUser, session: SessionDep):
    """Every gate decision about this call: why it was dialed, or why not."""
    rows = await service.decisions_for_call(session, user.id, call_id)
    return [_decision_out(r) for r in rows]


@router.get("/v1/compliance/decisions", response_model=list[DecisionOut])
async def list_decisions(
    user: CurrentUser,
    session: SessionDep,
    phone: str | None = None,
    verdict: Annotated[str | None, Query(pattern="^(allowed|deferred|blocked)$")] = None,
    source: Annotated[str | None, Query(pattern="^(calls|portal|campaign)$")] = None,
    lead_ref: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
):
    """Your gate decisions, newest first; filter by number, verdict, source or lead."""
    rows = await service.list_decisions(
        session,
        user.id,
        phone=_phone(phone) if phone else None,
        verdict=verdict,
        source=source,
        lead_ref=lead_ref,
        limit=limit,
        offset=offset,
    )
    return [_decision_out(r) for r in rows]


@router.get("/v1/compliance/check", response_model=CheckOut)
async def check(
    user: CurrentUser,
    session: SessionDep,
    phone: str,
    timezone: Annotated[str | None, Query(max_length=64)] = None,
    consent: bool = False,
):
    """What the gate would decide if this account dialed ``phone`` now (nothing is
    recorded). ``consent=true`` answers as if the lead's consent were on record."""
    e164 = _phone(phone)
    if timezone is not None and zone(timezone) is None:
        raise BadRequest(f"timezone {timezone!r} is not an IANA time zone such as Asia/Dubai")
    from nova.core import clock

    dial = service.Dial(
        phone=e164,
        owner_id=user.id,
        timezone=timezone,
        consent=service.Consent("check", clock.now()) if consent else None,
    )
    decision = await service.decide(session, dial)
    return CheckOut(phone=e164, **service.outcome_fields(decision))


def _profile_out(p: Profile) -> ProfileOut:
    return ProfileOut(
        key=p.key,
        name=p.name,
        regions=sorted(p.regions),
        area_codes=list(p.area_codes),
        consent_required=p.consent_required,
        windows=[
            WindowOut(
                days=[DAYS[d] for d in sorted(w.days)],
                start=f"{w.start // 60:02d}:{w.start % 60:02d}",
                end=f"{w.end // 60:02d}:{w.end % 60:02d}",
            )
            for w in p.windows
        ],
        caps=[CapOut(max=c.max, per=c.per, when=c.when) for c in p.caps],
        summary="; ".join(
            [p.describe_windows(), *(c.describe() for c in p.caps)]
            + (["consent required"] if p.consent_required else [])
        ),
        note=p.note,
    )


@router.get("/v1/compliance/profiles", response_model=list[ProfileOut])
async def list_profiles():
    """The country profiles the gate applies (public data)."""
    return [_profile_out(p) for p in service.profiles().by_key.values()]


# --- do-not-call --------------------------------------------------------------------------


def _dnc_out(row: DoNotCall) -> DncOut:
    return DncOut.model_validate(row, from_attributes=True)


@router.get("/v1/do-not-call", response_model=DncList)
async def list_dnc(
    user: CurrentUser,
    session: SessionDep,
    phone: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
):
    """Your do-not-call list, newest first (``?phone=`` to look one number up)."""
    items, total = await dnc.entries(
        session, user.id, phone=_phone(phone) if phone else None, limit=limit, offset=offset
    )
    return DncList(items=[_dnc_out(r) for r in items], total=total)


@router.post(
    "/v1/do-not-call",
    response_model=DncOut,
    status_code=status.HTTP_201_CREATED,
    responses={200: {"description": "Already on the list (unchanged)"}},
)
async def add_dnc(body: DncIn, response: Response, user: CurrentUser, session: SessionDep):
    """Never call this number from your account again. 201 when added, 200 when it was
    already listed (the first entry stays)."""
    phone = _phone(body.phone)
    if not await dnc.add(session, user.id, phone, source="api", reason=body.reason):
        response.status_code = status.HTTP_200_OK
    items, _ = await dnc.entries(session, user.id, phone=phone, limit=1, offset=0)
    return _dnc_out(items[0])


@router.delete("/v1/do-not-call/{phone}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_dnc(phone: str, user: CurrentUser, session: SessionDep):
    """Unlist a number you added (API or import). A lead's spoken opt-out answers 409."""
    await dnc.remove(session, user.id, _phone(phone))
    return Response(status_code=status.HTTP_204_NO_CONTENT)


async def _upload(request: Request) -> bytes:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        form = await request.form(max_files=1, max_fields=10)
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise BadRequest("multipart upload needs the CSV in a 'file' field")
        data = await upload.read(dnc.MAX_IMPORT_BYTES + 1)
    elif kind in ("text/csv", "text/plain", "application/csv", "application/octet-stream"):
        data = await request.body()
    else:
        raise UnsupportedMediaType(
            "Send the CSV as text/csv (the raw file) or multipart/form-data with a 'file' field"
        )
    if len(data) > dnc.MAX_IMPORT_BYTES:
        raise PayloadTooLarge(f"The CSV is larger than {dnc.MAX_IMPORT_BYTES} bytes")
    return data


@router.post(
    IMPORT_PATH,
    response_model=ImportReportOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/csv": {"schema": {"type": "string"}}},
        }
    },
)
async def import_dnc(
    request: Request,
    user: CurrentUser,
    session: SessionDep,
    default_region: Annotated[str | None, Query(max_length=2)] = None,
    reason: Annotated[str | None, Query(max_length=500)] = None,
):
    """Add every number of a CSV (a column headed phone/number/mobile/…, else the first;
    an optional reason column). Good rows are added even when others are not; the report
    lists each row that was not added and why. Up to 100,000 rows."""
    data = await _upload(request)
    report = await dnc.import_csv(
        session, user.id, data, default_region=dnc.check_region(default_region), reason=reason
    )
    return ImportReportOut.model_validate(report, from_attributes=True)
