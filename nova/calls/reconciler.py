"""The reconciler: calls left ``in_progress`` by an agent worker that died.

A worker reports the end of its call (``ended``); if it dies first, nobody does, and the
call would stay in progress with its minutes held. Every minute (``nova.calls.plugin``) the
reconciler ends, with a reason that says which:

- a call still in progress ``reconcile_grace_seconds`` after its maximum duration (the
  worker's watchdog ends every call by then, so its end report is not coming);
- a call older than the grace whose LiveKit room is gone (a room closes ~20 s after its
  last participant, the agent, left; asked with one ListRooms per 100 calls, outside any
  transaction).

Ending is a conditional update (only a call still in progress and not ended), so a report
that lands first wins and a late report is refused (409, "already ended"). Each ended call
emits ``call.ended`` (``outcome`` ``incomplete``, no duration), which settles its minutes:
the hold is released and nothing is charged, since nobody knows how long it lasted.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from nova.calls import repository
from nova.core import clock
from nova.core.db import session_scope
from nova.core.events import emit
from nova.core.settings import Settings
from nova.models.calls import Call
from nova.telephony import livekit
from nova.telephony.reports import ended_event_data
from nova.telephony.routing import ANONYMOUS_MAX_DURATION_SECONDS

log = logging.getLogger("nova.calls.reconciler")

BATCH = 500
LOST = "The agent worker stopped reporting on this call (worker lost)"


def _limit(call: Call, settings: Settings) -> int:
    if call.max_duration_seconds:
        return call.max_duration_seconds
    return settings.max_call_seconds if call.user_id else ANONYMOUS_MAX_DURATION_SECONDS


def overdue(call: Call, settings: Settings) -> bool:
    """Still in progress its maximum duration plus the grace after it started."""
    assert call.started_at is not None
    deadline = call.started_at + timedelta(
        seconds=_limit(call, settings) + settings.reconcile_grace_seconds
    )
    return deadline <= clock.now()


async def reconcile(settings: Settings) -> dict[str, int]:
    """One pass; returns how many calls were ended for each reason."""
    grace = timedelta(seconds=settings.reconcile_grace_seconds)
    async with session_scope() as s:
        candidates = await repository.in_progress(
            s, started_before=clock.now() - grace, limit=BATCH
        )
    late = [c for c in candidates if overdue(c, settings)]
    others = [c for c in candidates if not overdue(c, settings)]
    gone: set[str] = set()
    if others and settings.livekit_configured:
        try:
            gone = await livekit.rooms_gone(settings, [c.room_name for c in others])
        except livekit.DispatchFailed as exc:
            log.warning("reconciler: cannot list LiveKit rooms this round: %s", exc)
    ended = {"overdue": 0, "room_gone": 0}
    async with session_scope() as s:
        for call in late:
            limit = _limit(call, settings)
            extra = settings.reconcile_grace_seconds
            reason = f"no end report {limit} s (maximum duration) + {extra} s after start"
            if await _end(s, call.id, reason):
                ended["overdue"] += 1
        for call in others:
            if call.room_name in gone and await _end(
                s, call.id, "LiveKit room closed without an end report"
            ):
                ended["room_gone"] += 1
    if any(ended.values()):
        log.warning("reconciler ended calls: %s", ended)
    return ended


async def _end(session, call_id: str, reason: str) -> bool:
    call = await repository.end_lost(session, call_id, error=f"{LOST}: {reason}", reason=reason)
    if call is None:
        return False  # its end report arrived first
    await emit(session, "call.ended", ended_event_data(call))
    return True
