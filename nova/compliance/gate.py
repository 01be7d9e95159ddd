"""The compliance gate: one decision for every dial, whoever asks for it (POST /calls,
portal leads, and next campaigns and retries)::

    decision = await decide(db, dial)          # Allowed() | Deferred(until, reason) | Blocked(reason)
    decisions = await decide_all(db, dials)    # the same for a batch, one query

The dial pipeline (``nova.calls.pipeline``) asks before it holds minutes or writes
anything: an ``Allowed`` dial goes on, a ``Deferred`` one is recorded and dialed at
``until`` (the gate is asked again then), a ``Blocked`` one is recorded as failed with the
reason as its error, so "why was this number not called?" always has an answer.

Today the gate knows one rule of its own: a number that asked this account (or anonymous
demos) not to be called again is blocked. Calling windows, caps and consent by country
(DECISIONS.md, "Compliance gate") fill in ``_decide`` later, or plug in as rules
(``add_rule``: a function of the dial returning a decision, or None to have no opinion;
the first decision that is not ``Allowed`` wins); the interface stays.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from nova.models.worker import DoNotCall

Purpose = Literal["api", "portal", "campaign", "retry"]
OPTED_OUT = "The lead opted out of calls from this account (do-not-call list)"


@dataclass(frozen=True, slots=True)
class Dial:
    """One intended call, as the gate sees it."""

    phone: str  # E.164
    owner_id: str | None  # the account, None for an anonymous demo
    mode: Literal["demo", "sip"]  # demo calls ring a browser, sip calls a phone
    at: datetime  # when it would be placed
    purpose: Purpose = "api"
    call_id: str | None = None


@dataclass(frozen=True, slots=True)
class Allowed:
    pass


@dataclass(frozen=True, slots=True)
class Deferred:
    until: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class Blocked:
    reason: str


Decision = Allowed | Deferred | Blocked
ALLOWED = Allowed()
Rule = Callable[[Dial], Decision | None]
_rules: list[Rule] = []


def add_rule(rule: Rule) -> Callable[[], None]:
    """Ask ``rule`` about every dial from now on. Returns a function that removes it."""
    _rules.append(rule)
    return lambda: _rules.remove(rule) if rule in _rules else None


# Built once: constructing the expression costs more CPU than running it on SQLite.
_DO_NOT_CALL = select(DoNotCall.owner_id, DoNotCall.phone).where(
    DoNotCall.owner_id.in_(bindparam("owners", expanding=True)),
    DoNotCall.phone.in_(bindparam("phones", expanding=True)),
)


async def decide_all(db: AsyncSession | AsyncConnection, dials: Sequence[Dial]) -> list[Decision]:
    """The decision for each dial, in order (one database read for the whole batch)."""
    if not dials:
        return []
    rows = await db.execute(
        _DO_NOT_CALL,
        {
            "owners": sorted({d.owner_id or "" for d in dials}),
            "phones": sorted({d.phone for d in dials}),
        },
    )
    opted_out = {(owner, phone) for owner, phone in rows.all()}
    return [_decide(d, (d.owner_id or "", d.phone) in opted_out) for d in dials]


async def decide(db: AsyncSession | AsyncConnection, dial: Dial) -> Decision:
    return (await decide_all(db, [dial]))[0]


def _decide(dial: Dial, opted_out: bool) -> Decision:
    if opted_out:
        return Blocked(OPTED_OUT)
    for rule in _rules:
        decision = rule(dial)
        if decision is not None and not isinstance(decision, Allowed):
            return decision
    return ALLOWED
