"""The gate step of the dial pipeline: one decision for every dial, whoever asks for it
(POST /calls, portal leads, and next campaigns and retries)::

    decisions = await decide_all(db, dials)    # [Allowed | Deferred(until) | Blocked(reason)]

The decisions come from the compliance rules (``nova.compliance.service``: do-not-call
list, the callee's calling window, frequency caps, consent, per country profile). Extra
rules can be plugged in with ``add_rule`` (a function of the dial returning a decision, or
None to have no opinion); they are asked only about dials the compliance rules allow, and
the first decision that is not ``Allowed`` wins.

The dial pipeline (``nova.calls.pipeline``) asks before it holds minutes or writes
anything: an ``Allowed`` dial goes on, a ``Deferred`` one is recorded and dialed at
``until`` (the gate is asked again then) — except for interactive callers (POST /calls),
which are refused with a 400 that says when — and a ``Blocked`` one is recorded as failed
with the reason as its error. Every decision is kept as a row (``compliance_decisions``),
so "why was this number called, or not?" always has an answer.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from nova.compliance.service import (
    Allowed,
    Blocked,
    Decision,
    Deferred,
    Dial,
    Source,
)
from nova.compliance.service import (
    decide_all as _compliance_decide_all,
)

__all__ = ["ALLOWED", "Allowed", "Blocked", "Decision", "Deferred", "Dial", "Purpose"]

Purpose = Source
Rule = Callable[[Dial], Decision | None]
_rules: list[Rule] = []

# What a dial the gate was not asked about again is taken to be (a recorded call resumed
# after a crash was allowed when it was recorded).
ALLOWED = Allowed(rule="recorded", reason="Allowed when the call was recorded")


def add_rule(rule: Rule) -> Callable[[], None]:
    """Ask ``rule`` about every dial from now on. Returns a function that removes it."""
    _rules.append(rule)
    return lambda: _rules.remove(rule) if rule in _rules else None


async def decide_all(db: Any, dials: Sequence[Dial]) -> list[Decision]:
    """The decision for each dial, in order (two database reads for the whole batch)."""
    decisions = await _compliance_decide_all(db, dials)
    if not _rules:
        return decisions
    return [_with_rules(d, v) for d, v in zip(dials, decisions, strict=True)]


async def decide(db: Any, dial: Dial) -> Decision:
    return (await decide_all(db, [dial]))[0]


def _with_rules(dial: Dial, decision: Decision) -> Decision:
    if not isinstance(decision, Allowed):
        return decision
    for rule in _rules:
        found = rule(dial)
        if found is not None and not isinstance(found, Allowed):
            return found
    return decision
