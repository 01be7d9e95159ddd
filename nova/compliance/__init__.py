"""The compliance gate every dial passes through: ``decide(db, dial)`` answers
``Allowed | Deferred(until) | Blocked(reason)`` from the country's profile (calling window
in the callee's local time, frequency caps, consent) and the account's do-not-call list.
See docs/compliance.md."""

from nova.compliance import dnc
from nova.compliance.service import (
    DECISIONS_TABLE,
    Allowed,
    Blocked,
    Consent,
    Decision,
    Deferred,
    Dial,
    DialRefused,
    Source,
    check_lead,
    decide,
    decide_all,
    decision_rows,
    dial_for_lead,
    record,
    record_refusal,
    refuse_deferred,
)

__all__ = [
    "DECISIONS_TABLE",
    "Allowed",
    "Blocked",
    "Consent",
    "Decision",
    "Deferred",
    "Dial",
    "DialRefused",
    "Source",
    "check_lead",
    "decide",
    "dnc",
    "decide_all",
    "decision_rows",
    "dial_for_lead",
    "record",
    "record_refusal",
    "refuse_deferred",
]
