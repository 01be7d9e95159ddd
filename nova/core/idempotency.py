"""``Idempotency-Key`` for creating POSTs (DECISIONS.md "Calls").

Same key and same body within ``idempotency_ttl_seconds`` (24 h) replays the first response
without doing the work again; the same key with another body is a 422; a key whose first
request is still running is a 409. Keys are scoped per account, or per client IP for
anonymous callers, and per route.

Usage in a router (best before the request's session has started a transaction, so that
the in-flight marker is committed and visible at once; see ``begin`` for SQLite)::

    return await idempotency.run(
        session, settings,
        key=request.headers.get("idempotency-key"),
        scope=idempotency.scope_for("POST /calls", user_id=user.id if user else None, ip=ip),
        payload=body_dict,
        work=lambda: do_the_work(...),          # -> (status_code, json-able body)
    )

The in-flight marker is committed in its own short transaction; the final response is
stored in the caller's transaction, so it is recorded exactly when the work commits. When
the work raises, the caller's transaction is rolled back and the key released, so the
client can retry (e.g. after topping up minutes) with the same key.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from fastapi.responses import JSONResponse
from sqlalchemy import delete, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from nova.core import clock
from nova.core.db import is_postgres, session_scope
from nova.core.errors import BadRequest, Conflict, Unprocessable
from nova.core.settings import Settings
from nova.models.idempotency import IdempotencyRecord

log = logging.getLogger("nova.idempotency")

HEADER = "Idempotency-Key"
REPLAY_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
# A request still "in flight" after this long is presumed dead (crashed replica); the key
# can then be taken over.
IN_FLIGHT_LEASE_SECONDS = 300


@dataclass(frozen=True)
class Claim:
    record_id: str
    scope: str
    key: str


@dataclass(frozen=True)
class Replay:
    status_code: int
    body: Any


def scope_for(route: str, *, user_id: str | None, ip: str | None) -> str:
    who = f"user:{user_id}" if user_id else f"ip:{ip or 'unknown'}"
    return f"{who}|{route}"[:200]


def request_hash(payload: Any) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable() or not key.isascii():
        raise BadRequest(f"{HEADER} must be 1-{MAX_KEY_LENGTH} printable ASCII characters")
    return key


def _verdict(record: IdempotencyRecord, digest: str) -> Replay:
    if record.request_hash != digest:
        raise Unprocessable(
            f"{HEADER} was already used with a different request body; use a new key"
        )
    if record.state != "done":
        raise Conflict(f"A request with this {HEADER} is still in progress; retry shortly")
    return Replay(record.status_code or 200, record.response)


async def _existing(s: AsyncSession, scope: str, key: str, digest: str) -> Replay | None:
    """The verdict on a live record (raises 422/409, returns a replay), or None when there
    is none; an expired or abandoned record is deleted."""
    now = clock.now()
    record = (
        await s.execute(
            select(IdempotencyRecord).where(
                IdempotencyRecord.scope == scope, IdempotencyRecord.key == key
            )
        )
    ).scalar_one_or_none()
    if record is None:
        return None
    expired = record.expires_at <= now
    abandoned = record.state != "done" and record.created_at <= now - timedelta(
        seconds=IN_FLIGHT_LEASE_SECONDS
    )
    if not (expired or abandoned):
        return _verdict(record, digest)
    await s.execute(delete(IdempotencyRecord).where(IdempotencyRecord.id == record.id))
    return None


def _new_record(settings: Settings, scope: str, key: str, digest: str) -> IdempotencyRecord:
    now = clock.now()
    return IdempotencyRecord(
        scope=scope,
        key=key,
        request_hash=digest,
        state="in_flight",
        created_at=now,
        expires_at=now + timedelta(seconds=settings.idempotency_ttl_seconds),
    )


async def begin(
    settings: Settings,
    *,
    scope: str,
    key: str,
    payload: Any,
    session: AsyncSession | None = None,
) -> Claim | Replay:
    """Claim ``key`` for this request, or return the stored response. Raises 422 (other
    body) or 409 (still in flight).

    The claim is committed at once in its own transaction so concurrent requests see it.
    Exception: on SQLite, when ``session`` already has a transaction open, that transaction
    holds the database's only write lock (every transaction is ``BEGIN IMMEDIATE``), so a
    second connection would wait for it forever; there the claim is made inside ``session``
    instead, which is just as safe because SQLite runs writers one at a time."""
    check_key(key)
    digest = request_hash(payload)
    if session is not None and session.in_transaction() and not is_postgres(session):
        replay = await _existing(session, scope, key, digest)
        if replay is not None:
            return replay
        record = _new_record(settings, scope, key, digest)
        session.add(record)
        await session.flush()
        return Claim(record.id, scope, key)
    for _ in range(3):
        async with session_scope() as s:
            replay = await _existing(s, scope, key, digest)
            if replay is not None:
                return replay
        try:
            async with session_scope() as s:
                record = _new_record(settings, scope, key, digest)
                s.add(record)
            return Claim(record.id, scope, key)
        except IntegrityError:
            continue  # another request claimed it first: read its state
    raise Conflict(f"A request with this {HEADER} is still in progress; retry shortly")


async def complete(session: AsyncSession, claim: Claim, status_code: int, body: Any) -> None:
    """Store the response in the caller's transaction (recorded iff the work commits)."""
    await session.execute(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.id == claim.record_id)
        .values(state="done", status_code=status_code, response=body)
        .execution_options(synchronize_session=False)
    )


async def release(claim: Claim) -> None:
    """Forget an in-flight key whose work failed, so the client may retry with it."""
    try:
        async with session_scope() as s:
            await s.execute(
                delete(IdempotencyRecord).where(
                    IdempotencyRecord.id == claim.record_id,
                    IdempotencyRecord.state != "done",
                )
            )
    except Exception:  # noqa: BLE001 - the lease frees it later anyway
        log.warning("could not release idempotency key %s", claim.key, exc_info=True)


def replay_response(replay: Replay) -> JSONResponse:
    return JSONResponse(replay.body, replay.status_code, headers={REPLAY_HEADER: "true"})


async def run(
    session: AsyncSession,
    settings: Settings,
    *,
    key: str | None,
    scope: str,
    payload: Any,
    work: Callable[[], Awaitable[tuple[int, Any]]],
) -> JSONResponse:
    """Run ``work`` at most once per (scope, key, payload); see the module docstring."""
    if key is None:
        status_code, body = await work()
        return JSONResponse(body, status_code)
    outcome = await begin(settings, scope=scope, key=key, payload=payload, session=session)
    if isinstance(outcome, Replay):
        return replay_response(outcome)
    try:
        status_code, body = await work()
        await complete(session, outcome, status_code, body)
    except BaseException:
        # Roll back first: on SQLite the open transaction holds the only write lock.
        await session.rollback()
        await release(outcome)
        raise
    return JSONResponse(body, status_code)
