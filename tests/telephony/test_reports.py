"""The signed internal endpoint workers report to: signature, skew window, replay, effects."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from nova.core.db import session_scope
from nova.core.mailer import outbox
from nova.models.events import Event
from nova.models.worker import DoNotCall, WorkerReport
from nova.telephony import worker_protocol as wp
from nova.telephony.reports import is_do_not_call
from tests.telephony.factories import create_call, get_call

SECRET = "test-worker-secret-0123456789abcdef"


def signed(call_id: str, kind: str, data: dict | None = None, *, ts: int, secret: str = SECRET):
    report = wp.new_report(call_id, kind, data)
    body = wp.encode(report)
    return body, wp.sign(secret, body, ts)


async def post(client, call_id, body, headers):
    return await client.post(f"/internal/worker/{call_id}/events", content=body, headers=headers)


async def count(model, *where) -> int:
    async with session_scope() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where))


async def events(type_: str) -> list[Event]:
    async with session_scope() as session:
        return list((await session.scalars(select(Event).where(Event.type == type_))).all())


def now_ts(clock) -> int:
    return int(clock.now().timestamp())


async def test_started_sets_started_at_and_in_progress(client, clock):
    call = await create_call(status="pending")
    body, headers = signed(call.id, "started", ts=now_ts(clock))
    r = await post(client, call.id, body, headers)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "in_progress"
    row = await get_call(call.id)
    assert row.status == "in_progress"
    assert row.started_at == clock.now()


async def test_signature_binds_its_timestamp(client, clock):
    """A captured report cannot be re-stamped: moving its timestamp (to stretch the replay
    window, or to get a report the skew check refused through) breaks the signature, even
    when the new timestamp is itself inside the window."""
    call = await create_call(status="pending")
    body, headers = signed(call.id, "started", ts=now_ts(clock) - 200)
    for shifted in (now_ts(clock), now_ts(clock) - 199, now_ts(clock) - 201):
        moved = {**headers, wp.TIMESTAMP_HEADER: str(shifted)}
        r = await post(client, call.id, body, moved)
        assert r.status_code == 401, (shifted, r.text)
        assert r.json()["detail"] == "Invalid worker signature"
    assert await count(WorkerReport) == 0
    assert (await get_call(call.id)).status == "pending"
    # The same body with the timestamp it was signed with is accepted.
    assert (await post(client, call.id, body, headers)).status_code == 200


async def test_forged_signature_rejected_and_nothing_recorded(client, clock):
    call = await create_call()
    body, headers = signed(
        call.id, "ended", {"outcome": "qualified"}, ts=now_ts(clock), secret="x" * 36
    )
    r = await post(client, call.id, body, headers)
    assert r.status_code == 401
    assert r.json()["detail"] == "Invalid worker signature"
    # A valid signature over another body does not carry over either.
    _, good = signed(call.id, "ended", {"outcome": "qualified"}, ts=now_ts(clock))
    tampered = body.replace(b"qualified", b"sale_closed")
    assert (await post(client, call.id, tampered, good)).status_code == 401
    # No signature at all.
    r = await client.post(f"/internal/worker/{call.id}/events", content=body)
    assert r.status_code == 401
    row = await get_call(call.id)
    assert row.ended_at is None and row.outcome is None
    assert await count(WorkerReport) == 0
    assert await events("call.ended") == []


async def test_replayed_report_rejected_409_and_recorded_once(client, clock):
    call = await create_call()
    body, headers = signed(
        call.id,
        "ended",
        {"outcome": "meeting_booked", "goal_completed": True, "duration_seconds": 61},
        ts=now_ts(clock),
    )
    assert (await post(client, call.id, body, headers)).status_code == 200
    clock.advance(30)  # still inside the window: only the id stops it
    r = await post(client, call.id, body, headers)
    assert r.status_code == 409
    assert r.json()["detail"] == "Report already processed"
    assert len(await events("call.ended")) == 1
    assert await count(WorkerReport) == 1


async def test_expired_and_future_timestamps_rejected(client, clock, settings):
    call = await create_call(status="pending")
    body, headers = signed(call.id, "started", ts=now_ts(clock))
    clock.advance(settings.worker_report_max_skew_seconds + 1)
    r = await post(client, call.id, body, headers)
    assert r.status_code == 401
    assert "window" in r.json()["detail"]
    future_body, future = signed(
        call.id, "started", ts=now_ts(clock) + settings.worker_report_max_skew_seconds + 5
    )
    assert (await post(client, call.id, future_body, future)).status_code == 401
    # At the edge of the window it is still accepted.
    edge_body, edge = signed(
        call.id, "started", ts=now_ts(clock) - settings.worker_report_max_skew_seconds
    )
    assert (await post(client, call.id, edge_body, edge)).status_code == 200
    bad_ts = dict(headers, **{wp.TIMESTAMP_HEADER: "soon"})
    assert (await post(client, call.id, body, bad_ts)).status_code == 401
    assert await count(WorkerReport) == 1


async def test_unknown_call_mismatch_and_malformed(client, clock):
    call = await create_call()
    body, headers = signed("00000000-0000-0000-0000-000000000000", "started", ts=now_ts(clock))
    r = await post(client, "00000000-0000-0000-0000-000000000000", body, headers)
    assert r.status_code == 404
    body, headers = signed(call.id, "started", ts=now_ts(clock))
    other = await create_call()
    assert (await post(client, other.id, body, headers)).status_code == 400
    junk = b'{"id":"abcdefgh","call_id":"%s","kind":"party","data":{}}' % call.id.encode()
    assert (
        await post(client, call.id, junk, wp.sign(SECRET, junk, now_ts(clock)))
    ).status_code == 400
    assert await count(WorkerReport) == 0


async def test_ended_emits_call_ended_with_reference_shape_and_mails_owner(client, clock, pump):
    call = await create_call(goal="qualify_interest")
    ts = now_ts(clock)
    for kind, data in (
        ("started", {}),
        (
            "transcript",
            {
                "transcript": [
                    {"role": "agent", "text": "Hi Sam", "at": "2026-06-12T08:30:01Z"},
                    {"role": "user", "text": "Hello", "at": "2026-06-12T08:30:03Z"},
                ]
            },
        ),
    ):
        body, headers = signed(call.id, kind, data, ts=ts)
        assert (await post(client, call.id, body, headers)).status_code == 200
    clock.advance(187)
    body, headers = signed(
        call.id,
        "ended",
        {
            "outcome": "qualified",
            "goal_completed": True,
            "duration_seconds": 187,
            "reason": "completed",
            "result": {"answers": {"Budget?": "1M"}, "verdict": "qualified"},
        },
        ts=now_ts(clock),
    )
    r = await post(client, call.id, body, headers)
    assert r.status_code == 200 and r.json()["status"] == "completed"
    row = await get_call(call.id)
    assert (row.status, row.outcome, row.goal_completed, row.duration_seconds, row.end_reason) == (
        "completed",
        "qualified",
        True,
        187,
        "completed",
    )
    assert row.result["answers"] == {"Budget?": "1M"}
    [ended] = await events("call.ended")
    assert ended.data == {
        "call_id": call.id,
        "customer_id": None,
        "started_at": "2026-06-12T08:30:00Z",
        "ended_at": "2026-06-12T08:33:07Z",
        "duration_seconds": 187,
        "outcome": "qualified",
        "goal": "qualify_interest",
        "goal_completed": True,
        "to_phone_e164": "+971501234567",
    }
    [transcribed] = await events("call.transcribed")
    assert transcribed.data["turns"] == 2
    assert transcribed.data["transcript"][0] == {
        "role": "agent",
        "text": "Hi Sam",
        "at": "2026-06-12T08:30:01Z",
    }
    assert set(transcribed.data) == {"call_id", "customer_id", "transcript", "turns"}

    outbox.clear()
    await pump.drain()
    mails = [m for m in outbox if m.to == "owner@example.com"]
    assert len(mails) == 1
    assert "qualified" in mails[0].subject
    assert "Budget?: 1M" in mails[0].body and "user: Hello" in mails[0].body

    # A second "ended" (new id) cannot end the call twice.
    body, headers = signed(call.id, "ended", {"outcome": "failed"}, ts=now_ts(clock))
    assert (await post(client, call.id, body, headers)).status_code == 409
    assert len(await events("call.ended")) == 1


async def test_ended_with_sip_error_marks_failed(client, clock):
    call = await create_call(mode="sip")
    body, headers = signed(
        call.id,
        "ended",
        {"outcome": "busy", "error": "SIP 486 Busy Here", "reason": "sip 486"},
        ts=now_ts(clock),
    )
    assert (await post(client, call.id, body, headers)).status_code == 200
    row = await get_call(call.id)
    assert (row.status, row.error, row.outcome, row.duration_seconds) == (
        "failed",
        "SIP 486 Busy Here",
        "busy",
        0,
    )
    [ev] = await events("call.ended")
    assert ev.data["outcome"] == "busy" and ev.data["started_at"] is None


async def send_sms(client, clock, call_id: str, link_kind: str, url: str):
    """The worker's signed ``sms`` report for ``call_id``."""
    body, headers = signed(call_id, "sms", {"link_kind": link_kind, "url": url}, ts=now_ts(clock))
    return await post(client, call_id, body, headers)


async def test_sms_not_configured_is_a_clear_503_and_retryable(client, clock):
    call = await create_call()
    r = await send_sms(client, clock, call.id, "booking", "https://cal.example.com/x")
    assert r.status_code == 503
    assert "SMS is not configured" in r.json()["detail"]
    assert (await get_call(call.id)).sms_sent is False
    assert await count(WorkerReport) == 0  # rolled back: the worker may try again


async def test_sms_sent_through_twilio_once(client, clock, twilio):
    call = await create_call()
    r = await send_sms(client, clock, call.id, "booking", "https://cal.example.com/x")
    assert r.status_code == 200, r.text
    assert r.json()["sms_sent"] is True
    [msg] = twilio.messages
    assert msg["To"] == "+971501234567" and msg["From"] == "+15555550100"
    assert "https://cal.example.com/x" in msg["Body"]
    row = await get_call(call.id)
    assert row.sms_sent is True and row.result["sms"]["sid"] == msg["sid"]
    r = await send_sms(client, clock, call.id, "booking", "https://cal.example.com/x")
    assert r.json() == {"id": r.json()["id"], "kind": "sms", "sms_sent": True, "already_sent": True}
    assert len(twilio.messages) == 1


async def test_sms_provider_failure_is_502(client, clock, twilio):
    twilio.fail_with = (400, 21211, "The 'To' number is not a valid phone number.")
    call = await create_call()
    r = await send_sms(client, clock, call.id, "payment", "https://pay.example.com/x")
    assert r.status_code == 502
    assert "not a valid phone number" in r.json()["detail"]
    assert (await get_call(call.id)).sms_sent is False


async def test_sms_rejects_bad_link(client, clock, twilio):
    call = await create_call()
    r = await send_sms(client, clock, call.id, "booking", "javascript:alert(1)")
    assert r.status_code == 400
    assert twilio.messages == []


async def test_opt_out_adds_number_to_do_not_call_once(client, clock):
    call = await create_call()
    for _ in range(2):
        body, headers = signed(call.id, "opt_out", {"reason": "stop calling me"}, ts=now_ts(clock))
        assert (await post(client, call.id, body, headers)).status_code == 200
    assert await count(DoNotCall) == 1
    async with session_scope() as session:
        assert await is_do_not_call(session, "+971501234567", None) is True
        assert await is_do_not_call(session, "+971501234567", "someone-else") is False
    assert (await get_call(call.id)).result["opted_out"] is True


async def test_reporter_retries_with_same_id_and_treats_409_as_recorded(app, clock, settings):
    from nova.agent.reporting import Reporter, ReportRejected

    call = await create_call(status="pending")
    inner = httpx.ASGITransport(app=app)
    seen: list[bytes] = []

    class Flaky(httpx.AsyncBaseTransport):
        """Delivers the first request but loses its answer, like a dropped connection."""

        async def handle_async_request(self, request):
            seen.append(request.content)
            resp = await inner.handle_async_request(request)
            if len(seen) == 1:
                await resp.aread()
                raise httpx.ReadError("connection reset")
            return resp

    reporter = Reporter(
        settings, call.id, "http://testserver/internal/worker", transport=Flaky(), retry_delay=0
    )
    assert await reporter.send("started") == {"duplicate": True}
    assert len(seen) == 2 and seen[0] == seen[1]  # same report id both times
    assert await count(WorkerReport) == 1

    forged = settings.model_copy(
        update={"worker_secret": type(settings.worker_secret)("another-secret-that-is-long-enough")}
    )
    bad = Reporter(
        forged, call.id, "http://testserver/internal/worker", transport=inner, retry_delay=0
    )
    with pytest.raises(ReportRejected) as exc:
        await bad.send("started")
    assert exc.value.status == 401
    await reporter.aclose()
    await bad.aclose()


async def test_old_report_ids_are_pruned_and_stay_unreplayable(client, clock, settings):
    call = await create_call()
    body, headers = signed(call.id, "started", ts=now_ts(clock))
    assert (await post(client, call.id, body, headers)).status_code == 200
    clock.advance(hours=2)
    other = await create_call()
    end_body, end_headers = signed(
        other.id, "ended", {"outcome": "not_interested"}, ts=now_ts(clock)
    )
    assert (await post(client, other.id, end_body, end_headers)).status_code == 200
    async with session_scope() as session:
        ids = (await session.scalars(select(WorkerReport.call_id))).all()
    assert ids == [other.id]  # the 2-hour-old id was forgotten...
    r = await post(client, call.id, body, headers)
    assert r.status_code == 401  # ...and its report is still refused on its timestamp


async def test_reporter_never_retries_an_sms_whose_request_may_have_arrived(
    app, clock, settings, twilio
):
    from nova.agent.reporting import Reporter, ReportRejected

    call = await create_call()
    inner = httpx.ASGITransport(app=app)
    attempts: list[int] = []

    class LostAnswer(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request):
            attempts.append(1)
            resp = await inner.handle_async_request(request)
            await resp.aread()
            raise httpx.ReadTimeout("no answer")

    reporter = Reporter(
        settings,
        call.id,
        "http://testserver/internal/worker",
        transport=LostAnswer(),
        retry_delay=0,
    )
    with pytest.raises(ReportRejected):
        await reporter.send("sms", {"link_kind": "booking", "url": "https://cal.example.com/x"})
    assert len(attempts) == 1 and len(twilio.messages) == 1  # sent once, never twice

    class Refused(httpx.AsyncBaseTransport):
        async def handle_async_request(self, request):
            attempts.append(1)
            raise httpx.ConnectError("refused")

    attempts.clear()
    reporter2 = Reporter(
        settings, call.id, "http://testserver/internal/worker", transport=Refused(), retry_delay=0
    )
    with pytest.raises(ReportRejected) as exc:
        await reporter2.send("sms", {"link_kind": "booking", "url": "https://cal.example.com/x"})
    assert len(attempts) == settings.worker_report_attempts  # never left: safe to retry
    assert exc.value.status == 0
    await reporter.aclose()
    await reporter2.aclose()
