"""The account's do-not-call list over HTTP (``/v1/do-not-call``): list, add, import, remove.

The same ``do_not_call`` rows the agent writes when a lead opts out during a call, and that
``POST /calls`` (and portal leads) read before dialing: a listed number is never called by
this account. Numbers are stored in E.164, so "+971 50 123 4567" typed by hand and
"+971501234567" from a call are the same entry.

An import is all or nothing: every line is checked first, and a file with a bad number
adds none (the answer names the bad lines), so a list is never half-imported.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status
from pydantic import BaseModel, Field
from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from nova.api.deps import CurrentUser, SessionDep
from nova.calls.service import normalize_phone
from nova.core import clock
from nova.core.errors import BadRequest, Conflict, NotFound
from nova.models.base import new_id
from nova.models.worker import DoNotCall

router = APIRouter(prefix="/v1/do-not-call", tags=["do-not-call"])

MAX_IMPORT = 10_000
_SPACING = re.compile(r"[\s().-]")


class DoNotCallAdd(BaseModel):
    phone: str = Field(min_length=1, max_length=64)
    reason: str | None = Field(default=None, max_length=500)


class DoNotCallImport(BaseModel):
    text: str = Field(
        min_length=1,
        max_length=1_000_000,
        description="One number per line (CSV: the first column). A header line is skipped.",
    )
    reason: str | None = Field(default=None, max_length=500)


class DoNotCallEntry(BaseModel):
    id: str
    phone: str
    reason: str | None
    source: Literal["opt_out", "manual"] = Field(
        description="opt_out: the lead asked during a call; manual: added or imported here."
    )
    call_id: str | None
    created_at: datetime


class DoNotCallList(BaseModel):
    entries: list[DoNotCallEntry]
    total: int


class ImportResult(BaseModel):
    added: int
    already_listed: int


def _entry(row: DoNotCall) -> DoNotCallEntry:
    return DoNotCallEntry(
        id=row.id,
        phone=row.phone,
        reason=row.reason,
        source="opt_out" if row.call_id else "manual",
        call_id=row.call_id,
        created_at=row.created_at,
    )


def _phone(raw: str, where: str) -> str:
    """E.164 from what a person types or a spreadsheet exports (spaces, dashes, brackets)."""
    return normalize_phone(_SPACING.sub("", raw.strip().strip('"')), where)


def parse_import(text: str) -> list[str]:
    """The numbers of an import, normalised and de-duplicated; 400 naming every bad line."""
    phones: list[str] = []
    problems: list[str] = []
    for n, line in enumerate(text.splitlines(), start=1):
        value = line.split(",")[0].split(";")[0].strip().strip('"')
        if not value:
            continue
        if n == 1 and not any(c.isdigit() for c in value):
            continue  # a header ("phone")
        try:
            phones.append(_phone(value, f"line {n}:"))
        except BadRequest as exc:
            problems.append(str(exc.detail))
    if problems:
        shown = "; ".join(problems[:20])
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        raise BadRequest(f"Nothing was imported: {len(problems)} bad line(s): {shown}{more}")
    unique = list(dict.fromkeys(phones))
    if not unique:
        raise BadRequest("Nothing to import: the file has no phone numbers")
    if len(unique) > MAX_IMPORT:
        raise BadRequest(f"Too many numbers: at most {MAX_IMPORT} per import, got {len(unique)}")
    return unique


async def add_numbers(
    session: AsyncSession, owner_id: str, phones: list[str], reason: str | None
) -> int:
    """Insert the numbers not yet listed (safe against a concurrent add); how many were new."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    now = clock.now()
    added = 0
    for start in range(0, len(phones), 500):
        rows = [
            {"id": new_id(), "owner_id": owner_id, "phone": p, "reason": reason, "created_at": now}
            for p in phones[start : start + 500]
        ]
        stmt = (
            insert(DoNotCall)
            .values(rows)
            .on_conflict_do_nothing(index_elements=["owner_id", "phone"])
            .returning(DoNotCall.id)
        )
        added += len((await session.execute(stmt)).all())
    return added


@router.get("", response_model=DoNotCallList)
async def list_numbers(
    user: CurrentUser,
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    offset: Annotated[int, Query(ge=0)] = 0,
):
    """The account's list, newest first."""
    mine = DoNotCall.owner_id == user.id
    total = await session.scalar(select(func.count()).select_from(DoNotCall).where(mine))
    rows = await session.scalars(
        select(DoNotCall)
        .where(mine)
        .order_by(DoNotCall.created_at.desc(), DoNotCall.phone)
        .limit(limit)
        .offset(offset)
    )
    return DoNotCallList(entries=[_entry(r) for r in rows], total=int(total or 0))


@router.post("", status_code=status.HTTP_201_CREATED, response_model=DoNotCallEntry)
async def add_number(body: DoNotCallAdd, user: CurrentUser, session: SessionDep):
    """Add one number (409 when it is already listed)."""
    phone = _phone(body.phone, "phone")
    reason = " ".join((body.reason or "").split()) or None
    if not await add_numbers(session, user.id, [phone], reason):
        raise Conflict(f"{phone} is already on your do-not-call list")
    row = await session.scalar(
        select(DoNotCall).where(DoNotCall.owner_id == user.id, DoNotCall.phone == phone)
    )
    assert row is not None
    return _entry(row)


@router.post("/import", response_model=ImportResult)
async def import_numbers(body: DoNotCallImport, user: CurrentUser, session: SessionDep):
    """Add many numbers at once (CSV or one per line); all or nothing."""
    phones = parse_import(body.text)
    reason = " ".join((body.reason or "").split()) or None
    added = await add_numbers(session, user.id, phones, reason)
    return ImportResult(added=added, already_listed=len(phones) - added)


@router.delete("/{phone}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_number(phone: str, user: CurrentUser, session: SessionDep):
    """Remove a number (its E.164 form, URL-encoded: %2B971…); 404 when it is not listed."""
    e164 = _phone(phone, "phone")
    result = await session.execute(
        delete(DoNotCall).where(DoNotCall.owner_id == user.id, DoNotCall.phone == e164)
    )
    if not result.rowcount:
        raise NotFound(f"{e164} is not on your do-not-call list")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
