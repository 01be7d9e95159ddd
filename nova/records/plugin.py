"""Call records' event handlers and scheduled jobs (loaded through ``PLUGIN_MODULES``).

- ``call.started`` / ``call.ended`` / ``call.scored`` → the account-day's analytics rollup
  is rebuilt (``records.rollup``, one per window);
- ``call.transcribed`` → post-call analysis, when the account has a schema
  (``records.analyze`` → ``call.analyzed``);
- ``call.started`` → the call's recording (LiveKit Egress), when the account records;
- every 10 minutes: transcripts, analyses and recordings past their account's retention
  are deleted.
"""

from __future__ import annotations

from datetime import date

from sqlalchemy.ext.asyncio import AsyncSession

from nova.core import retention
from nova.core.events import subscribe, task_handler
from nova.core.runner import once_across_replicas, scheduled
from nova.core.settings import get_settings
from nova.models.calls import Call
from nova.models.events import Event
from nova.records import analysis, analytics, funnel, recordings, service


def _customer(data: dict) -> bool:
    return data.get("customer_id") is not None and data.get("call_id") is not None


@subscribe("call.started", "call.ended", "call.scored", name="records.dirty", when=_customer)
async def on_call_changed(session: AsyncSession, event: Event) -> None:
    if event.type == "call.started":
        funnel.stage("dispatched")  # accounts' calls (anonymous demo rooms are not counted)
    call = await session.get(Call, str(event.data["call_id"]))
    if call is not None:
        await analytics.mark_dirty(session, call)


@subscribe("call.started", name="records.recording", when=_customer, max_attempts=6)
async def on_call_started(session: AsyncSession, event: Event) -> None:
    await recordings.start_recording(session, get_settings(), str(event.data["call_id"]))


@subscribe("call.transcribed", name="records.analysis", when=_customer, max_attempts=8)
async def on_call_transcribed(session: AsyncSession, event: Event) -> None:
    await analysis.queue_analysis(session, str(event.data["call_id"]))


@task_handler(analytics.ROLLUP_TASK, max_attempts=8)
async def rollup(session: AsyncSession, payload: dict) -> None:
    await analytics.rebuild_day(session, payload["user_id"], date.fromisoformat(payload["day"]))


# Provider errors and invalid output are retried by the handler (with its own backoff);
# these retries cover crashes and timeouts of the task itself.
@task_handler(analysis.ANALYZE_TASK, max_attempts=5, retry_delays=(30, 120, 600, 1800))
async def analyze(session: AsyncSession, payload: dict) -> None:
    await analysis.run_analysis(session, get_settings(), payload)


@scheduled("records.retention", type="interval", minutes=retention.INTERVAL_MINUTES)
async def purge_expired() -> int:
    async with once_across_replicas("records.retention") as leader:
        if not leader:
            return 0
        return await service.purge_expired(get_settings())
