"""The signed report protocol between agent workers and the control plane.

Shared by both sides (like ``metadata.py``), free of heavy imports. A report is a JSON
envelope ``{"id", "call_id", "kind", "data"}`` POSTed to
``<report_url>/{call_id}/events`` with two headers:

    X-Nova-Timestamp: <unix seconds>
    X-Nova-Signature: sha256=<hex HMAC-SHA256(worker_secret, f"{timestamp}.".encode() + body)>

The control plane rejects a bad signature or a timestamp outside the skew window (401) and
an id it has already accepted (409), so a captured report can be neither forged nor
replayed. Workers retry a report with the same id; 409 then means "already recorded".
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

TIMESTAMP_HEADER = "X-Nova-Timestamp"
SIGNATURE_HEADER = "X-Nova-Signature"

ReportKind = Literal["started", "result", "sms", "opt_out", "ended", "transcript", "metrics"]
# Outcomes the agent can end a call with (record_outcome + the SIP/voicemail/limit paths).
Outcome = Literal[
    "meeting_booked",
    "qualified",
    "not_qualified",
    "info_collected",
    "sale_closed",
    "interested",
    "callback_requested",
    "not_interested",
    "opted_out",
    "voicemail",
    "transferred",
    "busy",
    "no_answer",
    "no_show",
    "failed",
    "incomplete",
]


class Report(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=8, max_length=64)
    call_id: str = Field(max_length=36)
    kind: ReportKind
    data: dict[str, Any] = Field(default_factory=dict)


def new_report(call_id: str, kind: ReportKind, data: dict[str, Any] | None = None) -> Report:
    return Report(id=uuid.uuid4().hex, call_id=call_id, kind=kind, data=data or {})


def encode(report: Report) -> bytes:
    return json.dumps(report.model_dump(), separators=(",", ":"), ensure_ascii=False).encode()


def signature(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def sign(secret: str, body: bytes, timestamp: int) -> dict[str, str]:
    ts = str(int(timestamp))
    return {
        TIMESTAMP_HEADER: ts,
        SIGNATURE_HEADER: signature(secret, ts, body),
        "Content-Type": "application/json",
    }


def verify(secret: str, body: bytes, timestamp: str | None, header: str | None) -> bool:
    if not timestamp or not header:
        return False
    return hmac.compare_digest(signature(secret, timestamp, body), header)
