"""The compliance gate: ``decide_all(db, dials) -> [Allowed | Deferred | Blocked]``.

Every dial of a phone number passes here first, whoever asks (POST /calls, portal leads,
campaigns, retries). A decision reads, in this order:

1. demo (the browser test caller; nothing is dialed): exempt, except the do-not-call list;
2. the do-not-call list of the account → Blocked;
3. the callee's time zones (the lead's own, else the number's) → Blocked when unknown;
4. consent, where the country's profile requires it → Blocked without a consent record;
5. the calling window in every candidate zone → Deferred to the next opening;
6. the profile's frequency caps over the account's earlier calls to the number
   → Deferred until a cap frees up (and the window is open).

Deciding writes nothing; ``decision_rows``/``record`` turn decisions into rows, which the
caller writes with the rest of its unit of work (the call rows), so a decision is recorded
exactly when what it allowed happens.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from nova.compliance import dnc
from nova.compliance.profiles import Cap, ProfileSet, load
from nova.compliance.windows import (
    describe_local,
    local_dates,
    local_minute,
    next_open,
    number_facts,
    zone,
)
from nova.core import clock
from nova.core.errors import BadRequest, NotFound
from nova.core.settings import get_settings
from nova.models.base import new_id
from nova.models.calls import Call
from nova.models.compliance import ComplianceDecision

Db = AsyncSession | AsyncConnection
Source = Literal["calls", "portal", "campaign", "retry"]

# Outcomes (and statuses) of a finished attempt in which nobody answered.
UNANSWERED_OUTCOMES = frozenset({"no_answer", "busy", "voicemail", "failed"})
# Caps look back at most this far (the longest period is seven days; one more for the
# callee-local calendar day).
CAP_LOOKBACK = timedelta(days=8)


# --- what is asked, and the answers -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Consent:
    """The lead's consent to be called: where it was given, when, and the proof."""

    source: str
    obtained_at: datetime
    proof: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "obtained_at": _iso(self.obtained_at),
            "proof": self.proof,
        }


@dataclass(frozen=True, slots=True)
class Dial:
    """One intended dial. ``mode`` "demo" = the browser test caller (dials no one)."""

    phone: str  # E.164
    owner_id: str | None
    mode: str = "sip"
    timezone: str | None = None  # the lead's own IANA zone, when it gave one
    consent: Consent | None = None
    source: Source = "calls"
    call_id: str | None = None
    lead_ref: str | None = None
    label: str = ""  # how error messages name the lead, e.g. "leads[0]"


@dataclass(frozen=True, slots=True, kw_only=True)
class _Decision:
    rule: str
    reason: str
    country: str | None = None
    profile: str | None = None
    zones: tuple[str, ...] = ()
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class Allowed(_Decision):
    verdict: Literal["allowed"] = "allowed"


@dataclass(frozen=True, slots=True, kw_only=True)
class Deferred(_Decision):
    until: datetime
    verdict: Literal["deferred"] = "deferred"


@dataclass(frozen=True, slots=True, kw_only=True)
class Blocked(_Decision):
    verdict: Literal["blocked"] = "blocked"


Decision = Allowed | Deferred | Blocked


class DialRefused(BadRequest):
    """A POST /calls batch with a lead that may not be called now (400). Carries the
    decisions so the caller can record them after rolling back its own work."""

    def __init__(self, detail: str, dials: Sequence[Dial], decisions: Sequence[Decision]):
        super().__init__(detail)
        # The batch's calls were never written: its decisions belong to no call.
        self.dials = [replace(d, call_id=None) for d in dials]
        self.decisions = list(decisions)


# --- what callers hand in ---------------------------------------------------------------------

# A consent dated this far in the future is a mistake, not clock skew.
CONSENT_CLOCK_SKEW = timedelta(minutes=5)


def check_lead(timezone: str | None, consent: Any, where: str) -> None:
    """400 for a lead's timezone or consent record that the gate could not use."""
    if timezone is not None and zone(timezone) is None:
        raise BadRequest(
            f"{where}.timezone {timezone!r} is not an IANA time zone such as America/New_York"
        )
    if consent is not None:
        if consent.obtained_at.tzinfo is None:
            raise BadRequest(
                f"{where}.consent.obtained_at needs a time zone (e.g. 2026-06-01T10:00:00Z)"
            )
        if consent.obtained_at > clock.now() + CONSENT_CLOCK_SKEW:
            raise BadRequest(f"{where}.consent.obtained_at is in the future")


def dial_for_lead(
    lead: Any,
    call_id: str | None,
    user: Any,
    mode: str,
    *,
    label: str = "",
    source: Source = "calls",
    lead_ref: str | None = None,
) -> Dial:
    """The dial of a lead as POST /calls and portals describe it (``phone``, optional
    ``timezone`` and ``consent`` {source, obtained_at, proof})."""
    consent = getattr(lead, "consent", None)
    return Dial(
        phone=lead.phone,
        owner_id=user.id if user is not None else None,
        mode=mode,
        timezone=getattr(lead, "timezone", None),
        consent=Consent(consent.source, consent.obtained_at, consent.proof) if consent else None,
        source=source,
        call_id=call_id,
        lead_ref=lead_ref,
        label=label,
    )


# --- deciding ---------------------------------------------------------------------------------


def profiles() -> ProfileSet:
    return load(get_settings().compliance_profiles_file)


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _few(items: Any, limit: int = 3) -> str:
    """``a, b, c and 39 more``: reasons stay readable for numbers with many zones."""
    items = list(items)
    shown = ", ".join(items[:limit])
    return f"{shown} and {len(items) - limit} more" if len(items) > limit else shown


@dataclass(slots=True)
class _Attempt:
    at: datetime
    finished: bool
    answered: bool


_ATTEMPTS = (
    select(Call.phone, Call.started_at, Call.status, Call.outcome, Call.ended_at)
    .where(
        Call.user_id == bindparam("owner"),
        Call.phone.in_(bindparam("phones", expanding=True)),
        Call.mode == "sip",
        Call.started_at.is_not(None),
        Call.created_at >= bindparam("since"),
    )
    .order_by(Call.started_at)
)


async def _attempts(
    db: Db, owner_id: str, phones: list[str], now: datetime
) -> dict[str, list[_Attempt]]:
    """The account's dials of these numbers (SIP calls that were dispatched) in the cap
    look-back, oldest first."""
    out: dict[str, list[_Attempt]] = defaultdict(list)
    if not phones:
        return out
    rows = await db.execute(
        _ATTEMPTS, {"owner": owner_id, "phones": phones, "since": now - CAP_LOOKBACK}
    )
    for phone, started_at, status, outcome, ended_at in rows.all():
        finished = ended_at is not None or status in ("completed", "failed")
        answered = finished and status != "failed" and outcome not in UNANSWERED_OUTCOMES
        out[phone].append(_Attempt(started_at, finished, answered))
    return out


def _cap_frees_at(
    cap: Cap, attempts: list[_Attempt], zones: tuple[ZoneInfo, ...], now: datetime
) -> tuple[datetime, int] | None:
    """When ``cap`` lets one more attempt through (None = now), and the count it saw."""
    if cap.per == "day":
        latest: datetime | None = None
        seen = 0
        for tz, next_midnight in local_dates(now, zones):
            today = now.astimezone(tz).date()
            count = sum(1 for a in attempts if a.at.astimezone(tz).date() == today)
            seen = max(seen, count)
            if count >= cap.max and (latest is None or next_midnight > latest):
                latest = next_midnight
        return (latest, seen) if latest is not None else None
    span = timedelta(hours=24) if cap.per == "24h" else timedelta(days=7)
    recent = [a.at for a in attempts if a.at > now - span]
    if len(recent) < cap.max:
        return None
    # Free once the oldest attempt that keeps the count at the cap leaves the period.
    return recent[len(recent) - cap.max] + span, len(recent)


def _unanswered(attempts: list[_Attempt]) -> bool:
    finished = [a for a in attempts if a.finished]
    return bool(finished) and not finished[-1].answered


def _decide_one(
    dial: Dial, profile_set: ProfileSet, listed: set[str], attempts: list[_Attempt], now: datetime
) -> Decision:
    if dial.mode == "demo":
        if dial.phone in listed:
            return Blocked(rule="dnc", reason=dnc.BLOCKED_REASON)
        return Allowed(
            rule="demo", reason="demo call: the browser test caller joins, no number is dialed"
        )
    facts = number_facts(dial.phone)
    profile = profile_set.for_number(facts.region, facts.national_number)
    zone_names = (dial.timezone,) if dial.timezone else facts.zones
    basis: dict[str, Any] = {
        "country": facts.region,
        "profile": profile.key,
        "zones": zone_names,
    }
    if dial.phone in listed:
        return Blocked(rule="dnc", reason=dnc.BLOCKED_REASON, **basis)
    zones = tuple(z for z in (zone(n) for n in zone_names) if z is not None)
    if not zones:
        return Blocked(
            rule="timezone",
            reason=f"the callee's time zone cannot be told from {dial.phone}: give the "
            "lead's timezone (an IANA name such as America/New_York)",
            **basis,
        )
    detail: dict[str, Any] = {
        "window": profile.describe_windows(),
        "local_time": {tz.key: local_minute(now, tz)[2].strftime("%a %H:%M") for tz in zones},
        "zones_from": "lead" if dial.timezone else "number",
    }
    if dial.consent is not None:
        detail["consent"] = dial.consent.as_json()
    if profile.consent_required and dial.consent is None:
        return Blocked(
            rule="consent",
            reason=f"{profile.name} requires the lead's consent to an automated call: give "
            "the lead's consent (source, obtained_at, proof)",
            detail=detail,
            **basis,
        )
    # Caps: the earliest instant every cap lets one more attempt through.
    free_at, binding_cap = now, None
    unanswered = _unanswered(attempts)
    caps_seen = []
    for cap in profile.caps:
        if cap.when == "unanswered" and not unanswered:
            continue
        frees = _cap_frees_at(cap, attempts, zones, now)
        if frees is not None:
            caps_seen.append({"cap": cap.describe(), "calls": frees[1]})
            if frees[0] > free_at:
                free_at, binding_cap = frees[0], cap
    if caps_seen:
        detail["caps"] = caps_seen
    opening = next_open(profile, zones, free_at)
    where = _few(tz.key for tz in zones)
    if opening is None:
        return Blocked(
            rule="window",
            reason=f"no time in the next two weeks is inside the calling window "
            f"({profile.describe_windows()}) in every time zone of this number ({where}): "
            "give the lead's timezone",
            detail=detail,
            **basis,
        )
    until, opened_in = opening
    if until <= now:
        return Allowed(
            rule="ok",
            reason=f"inside the calling window ({profile.describe_windows()}, {where})",
            detail=detail,
            **basis,
        )
    local = describe_local(until, opened_in or zones[0])
    if binding_cap is not None:
        why = f"{binding_cap.describe()} ({profile.name})"
        rule = "cap"
    else:
        now_local = _few(f"{v} {k}" for k, v in detail["local_time"].items())
        why = f"outside the calling window {profile.describe_windows()} (it is {now_local})"
        rule = "window"
    detail["until_local"] = local
    return Deferred(
        rule=rule,
        reason=f"{why}; may be called from {local} ({_iso(until)})",
        until=until,
        detail=detail,
        **basis,
    )


async def decide_all(
    db: Db, dials: Sequence[Dial], *, now: datetime | None = None
) -> list[Decision]:
    """Decide every dial of a batch with two reads in all: the do-not-call list and the
    account's recent calls to these numbers. Dials allowed earlier in the batch count
    towards the caps of later ones."""
    now = now or clock.now()
    if not dials:
        return []
    owners = {d.owner_id for d in dials}
    listed: dict[str | None, set[str]] = {}
    attempts: dict[str | None, dict[str, list[_Attempt]]] = {}
    for owner in owners:
        phones = sorted({d.phone for d in dials if d.owner_id == owner})
        listed[owner] = await dnc.listed(db, owner, phones)
        dialed = sorted({d.phone for d in dials if d.owner_id == owner and d.mode != "demo"})
        attempts[owner] = await _attempts(db, owner, dialed, now) if owner and dialed else {}
    profile_set = profiles()
    out: list[Decision] = []
    for dial in dials:
        history = attempts[dial.owner_id].setdefault(dial.phone, [])
        decision = _decide_one(dial, profile_set, listed[dial.owner_id], history, now)
        if isinstance(decision, Allowed) and dial.mode != "demo":
            history.append(_Attempt(now, finished=False, answered=False))
        out.append(decision)
    return out


async def decide(db: Db, dial: Dial, *, now: datetime | None = None) -> Decision:
    """The gate for one dial (see ``decide_all``)."""
    return (await decide_all(db, [dial], now=now))[0]


def refuse_deferred(dials: Sequence[Dial], decisions: Sequence[Decision]) -> None:
    """For interactive callers (POST /calls), which cannot wait: a 400 naming every lead
    that may not be called now and when it may."""
    problems = [
        f"{d.label or d.phone} {d.phone} cannot be called now: {v.reason}"
        for d, v in zip(dials, decisions, strict=True)
        if isinstance(v, Deferred)
    ]
    if problems:
        raise DialRefused("; ".join(problems), dials, decisions)


# --- recording --------------------------------------------------------------------------------


def decision_rows(
    dials: Sequence[Dial], decisions: Sequence[Decision], *, now: datetime | None = None
) -> list[dict[str, Any]]:
    """The ``compliance_decisions`` rows of a batch, for the caller's own INSERT."""
    now = now or clock.now()
    return [
        {
            "id": new_id(),
            "owner_id": dial.owner_id or "",
            "call_id": dial.call_id,
            "source": dial.source,
            "lead_ref": dial.lead_ref,
            "phone": dial.phone,
            **outcome_fields(v),
            "created_at": now,
        }
        for dial, v in zip(dials, decisions, strict=True)
    ]


def outcome_fields(v: Decision) -> dict[str, Any]:
    """A decision as the columns (and API fields) that describe it."""
    return {
        "verdict": v.verdict,
        "rule": v.rule,
        "reason": v.reason[:1000],
        "country": v.country,
        "profile": v.profile,
        "zones": list(v.zones),
        "not_before": v.until if isinstance(v, Deferred) else None,
        "detail": v.detail,
    }


DECISIONS_TABLE = ComplianceDecision.__table__  # type: ignore[attr-defined]


async def record(db: Db, dials: Sequence[Dial], decisions: Sequence[Decision]) -> None:
    """Write the decisions in the caller's transaction."""
    rows = decision_rows(dials, decisions)
    if rows:
        await db.execute(insert(DECISIONS_TABLE), rows)


async def record_refusal(session: AsyncSession, refused: DialRefused) -> None:
    """Roll back the caller's work and keep the record of why (its own transaction)."""
    from nova.core.db import session_scope

    await session.rollback()
    async with session_scope() as s:
        await record(s, refused.dials, refused.decisions)


# --- reading ----------------------------------------------------------------------------------


async def decisions_for_call(
    session: AsyncSession, owner_id: str, call_id: str
) -> list[ComplianceDecision]:
    """The decisions about one of the account's calls, oldest first (404 otherwise)."""
    owner = await session.scalar(select(Call.user_id).where(Call.id == call_id))
    if owner is None or owner != owner_id:
        raise NotFound("Call not found")
    rows = await session.execute(
        select(ComplianceDecision)
        .where(ComplianceDecision.call_id == call_id, ComplianceDecision.owner_id == owner_id)
        .order_by(ComplianceDecision.created_at, ComplianceDecision.id)
    )
    return list(rows.scalars())


async def list_decisions(
    session: AsyncSession,
    owner_id: str,
    *,
    phone: str | None = None,
    verdict: str | None = None,
    source: str | None = None,
    lead_ref: str | None = None,
    limit: int = 50,
    offset: int = 0,
) -> list[ComplianceDecision]:
    """The account's decisions, newest first, filtered by whatever is given."""
    stmt = select(ComplianceDecision).where(ComplianceDecision.owner_id == owner_id)
    for column, value in (
        (ComplianceDecision.phone, phone),
        (ComplianceDecision.verdict, verdict),
        (ComplianceDecision.source, source),
        (ComplianceDecision.lead_ref, lead_ref),
    ):
        if value is not None:
            stmt = stmt.where(column == value)
    stmt = stmt.order_by(ComplianceDecision.created_at.desc(), ComplianceDecision.id)
    return list((await session.execute(stmt.limit(limit).offset(offset))).scalars())
