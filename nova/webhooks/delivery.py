"""Delivering webhook rows: claim, POST, record — without a transaction open across HTTP.

The ``webhook_deliveries`` table is the queue. A round:

1. **claim** (one short transaction): pick due rows (``pending`` whose ``next_attempt_at``
   has come, or ``delivering`` whose lease expired after a crash) with ``FOR UPDATE SKIP
   LOCKED`` on PostgreSQL, mark them ``delivering`` under a lease (``locked_until`` and a
   random ``lease_id``), count the attempt, commit;
2. **attempt** (no database): re-vet the URL (resolve, check every address, connect to the
   vetted one only, fail closed), sign and POST, never follow redirects, 10 s in total;
3. **record** (one short transaction for many outcomes): succeeded, failed after the 4th
   attempt, or pending again after 1 s / 5 s / 30 s. Updates are fenced on ``lease_id``, so
   a process whose lease expired cannot overwrite the row another one re-claimed.

Any number of processes can run this against one PostgreSQL database; a crash leaves rows
``delivering`` with a lease that expires, after which they are attempted again. Delivery is
therefore at-least-once and ``X-Nova-Delivery`` (the row id) is the receiver's dedupe key.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import heapq
import json
import logging
import ssl
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import certifi
from sqlalchemy import and_, bindparam, case, or_, select, update
from yarl import URL

from nova.core import clock, crypto, netguard
from nova.core.db import is_postgres, on_commit, session_scope
from nova.core.pump import drain_rounds
from nova.core.settings import Settings
from nova.models.base import UTCDateTime
from nova.models.webhooks import Webhook, WebhookDelivery
from nova.webhooks.signing import open_key, sign

log = logging.getLogger("nova.webhooks")

# The documented schedule: 4 attempts, waiting 1 s, 5 s, 30 s between them.
RETRY_DELAYS: tuple[float, ...] = (1.0, 5.0, 30.0)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
USER_AGENT = "NOVA-Webhooks/1.0"
# Response bytes read (and thrown away) so the connection can be reused; more is not read.
MAX_RESPONSE_BYTES = 64 * 1024

_WAKE_FLAG = "nova_webhooks_wake"
_HANDOFF_KEY = "nova_webhooks_handoff"
_wake_callbacks: list[Any] = []
_local: Deliverer | None = None


def mark_wake(session: Any) -> None:
    """Wake the delivery loops once ``session`` commits (it queued deliveries)."""
    session.sync_session.info[_WAKE_FLAG] = True


def local_deliverer() -> tuple[Deliverer | None, int]:
    """The delivery loop running in this process, if any, and how many more attempts it can
    start right now. The fan-out hands it new rows directly (already leased to it), which
    saves a claim transaction and a wake-up per batch."""
    d = _local
    if d is None or d._loop is None or d._stopping:
        return None, 0
    return d, max(0, d.concurrency - d._busy - len(d._handoff))


def hand_off(session: Any, jobs: list[Job]) -> None:
    """Give ``jobs`` (rows this transaction inserts as leased) to the local loop at commit.
    If the commit fails, nothing is handed off; if the process dies, the lease expires and
    any replica claims them."""
    session.sync_session.info.setdefault(_HANDOFF_KEY, []).extend(jobs)


def _after_commit(session: Any) -> None:
    jobs = session.info.pop(_HANDOFF_KEY, None)
    if jobs and _local is not None:
        _local.accept(jobs)
    if session.info.pop(_WAKE_FLAG, False):
        for cb in list(_wake_callbacks):
            cb()


on_commit(_after_commit)


@dataclass
class Job:
    """A claimed delivery with what is needed to send it."""

    id: str
    webhook_id: str
    event_type: str
    data: dict
    attempt: int
    lease_id: str
    url: str | None
    # The sealed HMAC key (opened for each attempt, ``signing.open_key``).
    signing_key: str | None
    active: bool


@dataclass
class Outcome:
    job: Job
    ok: bool
    status_code: int | None
    error: str | None
    at: datetime
    # The webhook is gone or inactive: no more attempts.
    final: bool = False
    # Wall time from the start of the attempt to the response (seconds).
    elapsed: float = 0.0


def format_ts(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def build_body(event_type: str, data: dict, when: datetime) -> bytes:
    """The documented body: ``{"event", "delivered_at", "data"}`` (compact JSON)."""
    doc = {"event": event_type, "delivered_at": format_ts(when), "data": data}
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def build_headers(job: Job, body: bytes, when: datetime, key: str) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "X-Nova-Event": job.event_type,
        "X-Nova-Signature": sign(key, body),
        "X-Nova-Delivery": job.id,
        "X-Nova-Timestamp": str(int(when.timestamp())),
    }


def allowed_networks(settings: Settings) -> list:
    """The SSRF allow-list for webhooks: ``ssrf_allow_cidrs`` + ``webhook_allow_cidrs``."""
    return _networks((*settings.ssrf_allow_cidrs, *settings.webhook_allow_cidrs))


@functools.lru_cache(maxsize=16)
def _networks(cidrs: tuple[str, ...]) -> list:
    return netguard.parse_networks(cidrs)


def ssl_context(settings: Settings) -> ssl.SSLContext:
    """Public CAs (certifi) plus the configured private bundle, if any."""
    ctx = ssl.create_default_context(cafile=certifi.where())
    if settings.webhook_ca_bundle:
        ctx.load_verify_locations(cafile=settings.webhook_ca_bundle)
    return ctx


class ClientPool:
    """The delivery HTTP client: one aiohttp session whose connections are pinned to vetted
    addresses by ``netguard.pin``.

    Every request is vetted again (``netguard.pin``: resolve, check every address, fail
    closed) and sent to the first vetted address; the Host header and the TLS server name
    (so certificate verification) carry the URL's host. aiohttp keys kept-alive connections
    on (address, port, TLS server name), so a connection verified for host A is never
    reused for host B behind the same address. aiohttp is used rather than httpx because it
    costs about a quarter of the CPU per request here (bench/results/webhooks.md)."""

    def __init__(self, settings: Settings, *, max_connections: int = 64) -> None:
        self.settings = settings
        self.max_connections = max_connections
        self._ssl = ssl_context(settings)
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self.max_connections,
                ssl=self._ssl,
                use_dns_cache=False,
                keepalive_timeout=30,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),
                auto_decompress=False,
                trust_env=False,
                skip_auto_headers=("User-Agent",),
            )
        return self._session

    async def post(
        self, url: str, body: bytes, headers: dict[str, str], allowed: Sequence[Any]
    ) -> int:
        """POST ``body`` to the vetted address of ``url``; returns the status code. Never
        follows redirects; reads at most ``MAX_RESPONSE_BYTES`` of the answer."""
        pinned = await netguard.pin(url, schemes=("https",), allowed=allowed)
        headers = {**headers, "Host": pinned.host_header}
        async with self._get_session().post(
            URL(pinned.url),
            data=body,
            headers=headers,
            allow_redirects=False,
            server_hostname=pinned.server_hostname,
        ) as response:
            read = 0
            while read <= MAX_RESPONSE_BYTES:
                chunk = await response.content.readany()
                if not chunk:
                    break
                read += len(chunk)
            return response.status

    async def __aenter__(self) -> ClientPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def _error_text(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


async def attempt(job: Job, pool: ClientPool, settings: Settings) -> Outcome:
    """Send one attempt of ``job``. Never raises; never touches the database."""
    start = clock.monotonic()
    when = clock.now()
    if not job.active or job.url is None or job.signing_key is None:
        return Outcome(job, False, None, "webhook was deleted", when, final=True)
    try:
        key = open_key(settings, job.signing_key)
    except crypto.DecryptionFailed:
        # NOVA_ENCRYPTION_KEY (or the JWT secret it falls back to) changed: retried on the
        # normal schedule, so restoring the key lets the delivery through.
        return Outcome(job, False, None, "signing key cannot be decrypted", when)
    body = build_body(job.event_type, job.data, when)
    headers = build_headers(job, body, when, key)
    timeout = settings.webhook_timeout_seconds
    status: int | None = None
    error: str | None = None
    try:
        async with asyncio.timeout(timeout):
            status = await pool.post(job.url, body, headers, allowed_networks(settings))
    except netguard.UnsafeTarget as exc:
        error = f"blocked: {exc}"
    except TimeoutError:
        error = f"timed out after {timeout:g}s"
    except (aiohttp.ClientError, OSError, ssl.SSLError) as exc:
        error = _error_text(exc)
    except Exception as exc:  # noqa: BLE001 - an attempt never crashes the loop
        log.exception("webhook delivery %s: unexpected error", job.id)
        error = _error_text(exc)
    done = clock.now()
    elapsed = clock.monotonic() - start
    if error is None and status is not None:
        if 200 <= status < 300:
            return Outcome(job, True, status, None, done, elapsed=elapsed)
        if 300 <= status < 400:
            error = f"HTTP {status}: redirects are not followed"
        else:
            error = f"HTTP {status}"
    return Outcome(job, False, status, (error or "unknown error")[:500], done, elapsed=elapsed)


_T = WebhookDelivery.__table__
_RECORD = (
    update(_T)
    .where(_T.c.id == bindparam("b_id"), _T.c.lease_id == bindparam("b_lease"))
    .values(
        status=bindparam("b_status"),
        status_code=bindparam("b_code"),
        error_message=bindparam("b_error"),
        next_attempt_at=bindparam("b_next", type_=UTCDateTime()),
        delivered_at=bindparam("b_delivered", type_=UTCDateTime()),
        locked_until=None,
        lease_id=None,
    )
)


def _record_params(o: Outcome) -> dict[str, Any]:
    if o.ok:
        status, nxt, delivered = "succeeded", None, o.at
    elif o.final or o.job.attempt >= MAX_ATTEMPTS:
        status, nxt, delivered = "failed", None, None
    else:
        delay = RETRY_DELAYS[min(o.job.attempt, len(RETRY_DELAYS)) - 1]
        status, nxt, delivered = "pending", o.at + timedelta(seconds=delay), None
    return {
        "b_id": o.job.id,
        "b_lease": o.job.lease_id,
        "b_status": status,
        "b_code": o.status_code,
        "b_error": o.error,
        "b_next": nxt,
        "b_delivered": delivered,
    }


async def record(outcomes: Sequence[Outcome]) -> list[dict[str, Any]]:
    """Store the outcomes of attempts in one transaction (fenced on each row's lease)."""
    if not outcomes:
        return []
    params = [_record_params(o) for o in outcomes]
    async with session_scope() as session:
        await session.execute(_RECORD, params)
    return params


def job_for(row: WebhookDelivery, hook: Webhook) -> Job:
    assert row.lease_id is not None
    return Job(
        id=row.id,
        webhook_id=row.webhook_id,
        event_type=row.event_type,
        data=dict(row.payload),
        attempt=row.attempt_count,
        lease_id=row.lease_id,
        url=hook.url,
        signing_key=hook.signing_key,
        active=hook.is_active,
    )


class Deliverer:
    """Claims and sends due deliveries. ``drain()`` for tests and the CLI, ``run_forever()``
    inside ``nova serve`` (the background runner)."""

    def __init__(
        self,
        settings: Settings,
        *,
        concurrency: int | None = None,
        batch_size: int | None = None,
        lease_seconds: float | None = None,
        poll_seconds: float | None = None,
    ) -> None:
        self.settings = settings
        self.concurrency = concurrency or settings.webhook_concurrency
        self.batch_size = batch_size or settings.webhook_batch_size
        self.lease_seconds = lease_seconds or settings.webhook_lease_seconds
        self.poll_seconds = poll_seconds or settings.webhook_poll_seconds
        self.pool = ClientPool(settings, max_connections=self.concurrency)
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        # Retry times this process scheduled (the loop wakes for them).
        self._due: list[datetime] = []
        # Rows the fan-out leased to this loop (see hand_off), and attempts in flight.
        self._handoff: collections.deque[Job] = collections.deque()
        self._busy = 0
        self._stopping = False
        self.handed_off = 0

    async def __aenter__(self) -> Deliverer:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.pool.aclose()

    # -- database -----------------------------------------------------------------------------

    async def claim(self, limit: int) -> list[Job]:
        now = clock.now()
        D = WebhookDelivery  # noqa: N806
        due = or_(
            and_(D.status == "pending", D.next_attempt_at <= now),
            and_(D.status == "delivering", D.locked_until < now),
        )
        lease = uuid.uuid4().hex
        async with session_scope() as session:
            pick = select(D.id).where(due).order_by(D.next_attempt_at).limit(limit)
            if is_postgres(session):
                pick = pick.with_for_update(skip_locked=True)
            ids = list((await session.execute(pick)).scalars())
            if not ids:
                return []
            rows = (
                await session.execute(
                    update(D)
                    .where(D.id.in_(ids), due)
                    .values(
                        status="delivering",
                        # An attempt interrupted by a crash is repeated, not counted twice.
                        attempt_count=case(
                            (D.status == "pending", D.attempt_count + 1), else_=D.attempt_count
                        ),
                        locked_until=now + timedelta(seconds=self.lease_seconds),
                        lease_id=lease,
                    )
                    .returning(D.id, D.webhook_id, D.event_type, D.payload, D.attempt_count)
                    .execution_options(synchronize_session=False)
                )
            ).all()
            if not rows:
                return []
            hook_ids = {r.webhook_id for r in rows}
            hooks = {
                h.id: h
                for h in (
                    await session.execute(
                        select(
                            Webhook.id, Webhook.url, Webhook.signing_key, Webhook.is_active
                        ).where(Webhook.id.in_(hook_ids))
                    )
                ).all()
            }
        jobs = []
        for r in rows:
            h = hooks.get(r.webhook_id)
            jobs.append(
                Job(
                    id=r.id,
                    webhook_id=r.webhook_id,
                    event_type=r.event_type,
                    data=r.payload,
                    attempt=r.attempt_count,
                    lease_id=lease,
                    url=h.url if h else None,
                    signing_key=h.signing_key if h else None,
                    active=bool(h and h.is_active),
                )
            )
        return jobs

    async def record(self, outcomes: Sequence[Outcome]) -> None:
        params = await record(outcomes)
        for p in params:
            if p["b_next"] is not None and len(self._due) < 10_000:
                heapq.heappush(self._due, p["b_next"])

    # -- HTTP ---------------------------------------------------------------------------------

    async def attempt(self, job: Job) -> Outcome:
        return await attempt(job, self.pool, self.settings)

    async def deliver(self, jobs: Sequence[Job]) -> list[Outcome]:
        """Attempt claimed jobs concurrently and record their outcomes."""
        outcomes = list(await asyncio.gather(*(self.attempt(j) for j in jobs)))
        await self.record(outcomes)
        return outcomes

    # -- loops --------------------------------------------------------------------------------

    async def run_once(self) -> int:
        jobs = await self.claim(self.batch_size)
        if jobs:
            await self.deliver(jobs)
        return len(jobs)

    async def drain(self, max_rounds: int = 100) -> int:
        """Deliver until nothing is due (tests, CLI). Returns the number of attempts."""
        return await drain_rounds(self.run_once, max_rounds)

    def accept(self, jobs: list[Job]) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return

        def add() -> None:
            self.handed_off += len(jobs)
            self._handoff.extend(jobs)
            self._wake.set()

        loop.call_soon_threadsafe(add)

    def wake(self) -> None:
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        loop.call_soon_threadsafe(self._wake.set)

    async def run_forever(self, stop: asyncio.Event) -> None:
        """Keep up to ``concurrency`` attempts in flight; record outcomes in batches."""
        global _local
        self._loop = asyncio.get_running_loop()
        _wake_callbacks.append(self.wake)
        if _local is None:
            _local = self
        inflight: set[asyncio.Task[None]] = set()
        results: asyncio.Queue[Outcome | None] = asyncio.Queue()
        low_water = max(1, self.concurrency // 2)

        async def run(job: Job) -> None:
            results.put_nowait(await self.attempt(job))

        saturated = False  # the last claim was cut short by capacity: more may be due

        def finished(t: asyncio.Task[None]) -> None:
            inflight.discard(t)
            self._busy = len(inflight)
            if saturated and len(inflight) <= low_water:
                self._wake.set()

        async def recorder() -> None:
            while True:
                items = [await results.get()]
                while not results.empty():
                    items.append(results.get_nowait())
                batch = [o for o in items if o is not None]
                try:
                    await self.record(batch)
                except Exception:
                    # Rows keep their lease and are attempted again once it expires.
                    log.exception("recording %d webhook outcomes failed", len(batch))
                if None in items:
                    return

        rec = asyncio.create_task(recorder(), name="nova-webhooks-recorder")
        try:
            while not stop.is_set():
                while self._handoff:
                    t = asyncio.create_task(run(self._handoff.popleft()))
                    inflight.add(t)
                    t.add_done_callback(finished)
                self._busy = len(inflight)
                free = self.concurrency - len(inflight)
                jobs: list[Job] = []
                saturated = free <= 0
                if free > 0:
                    try:
                        jobs = await self.claim(min(free, self.batch_size))
                    except Exception:
                        log.exception("claiming webhook deliveries failed")
                for job in jobs:
                    t = asyncio.create_task(run(job))
                    inflight.add(t)
                    t.add_done_callback(finished)
                self._busy = len(inflight)
                if jobs and len(jobs) == min(free, self.batch_size):
                    saturated = True
                    continue  # more may be due right now
                self._wake.clear()
                waits = [
                    asyncio.ensure_future(self._wake.wait()),
                    asyncio.ensure_future(stop.wait()),
                ]
                await asyncio.wait(
                    waits, timeout=self._idle_timeout(), return_when=asyncio.FIRST_COMPLETED
                )
                for w in waits:
                    w.cancel()
        finally:
            self._stopping = True
            if _local is self:
                _local = None
            with contextlib.suppress(ValueError):
                _wake_callbacks.remove(self.wake)
            # Handed-off rows not started keep their lease and are claimed again after it.
            self._handoff.clear()
            if inflight:
                await asyncio.wait(inflight, timeout=self.settings.webhook_timeout_seconds + 1)
            # Record what finished; anything unfinished is re-claimed after its lease.
            results.put_nowait(None)
            try:
                await asyncio.wait_for(rec, 10)
            except TimeoutError:
                log.warning("webhook outcomes not recorded at shutdown; they will be retried")
            await self.aclose()

    def _idle_timeout(self) -> float:
        """Sleep until the next retry this process scheduled, at most ``poll_seconds``."""
        now = clock.now()
        while self._due and self._due[0] <= now:
            heapq.heappop(self._due)
        if self._due:
            return max(0.0, min(self.poll_seconds, (self._due[0] - now).total_seconds()))
        return self.poll_seconds
