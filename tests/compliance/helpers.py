"""Shared helpers of the compliance tests: instants in a zone, one gate decision, consent."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from nova.compliance import Consent, Decision, Dial, decide
from nova.core.db import session_scope

CONSENT = Consent("web form /pricing", datetime(2026, 1, 5, 10, 0, tzinfo=UTC), "form-123")

NEW_YORK = "+12125550100"
LOS_ANGELES = "+13105550100"
ALASKA = "+19075550100"  # America/Anchorage and America/Adak
TOLL_FREE = "+18005550100"  # every NANP zone, Guam to Newfoundland
DUBAI = "+971501234567"
LONDON = "+442071234567"
SAO_PAULO = "+5511987654321"
MIAMI = "+13055550100"  # Florida: its own US profile


def at(local: str, zone: str = "UTC") -> datetime:
    """``"2026-06-12 08:59"`` in ``zone``, as an aware UTC datetime."""
    return datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


async def gate(phone: str, now: datetime, *, owner: str | None = None, **kw) -> Decision:
    kw.setdefault("consent", CONSENT)
    async with session_scope() as s:
        return await decide(s, Dial(phone=phone, owner_id=owner, **kw), now=now)
