"""The do-not-call list: per account ("" = anonymous demos), fed by leads who opt out
during a call, by the API and by CSV imports. The gate reads it before every dial.

A spoken opt-out goes through ``opt_out``, which also tells every registered suppressor
(campaigns register one that cancels the number's queued attempts) in the same
transaction, so no queued attempt for that number outlives the opt-out. Even without a
suppressor, nothing is dialed after it: the gate reads this list at every dial.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import phonenumbers
from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from nova.compliance import csvio
from nova.core import clock
from nova.core.errors import BadRequest, Conflict, NotFound
from nova.models.base import new_id
from nova.models.worker import DoNotCall

Db = AsyncSession | AsyncConnection
BLOCKED_REASON = "the number is on this account's do-not-call list"
MAX_IMPORT_ROWS = 100_000
MAX_IMPORT_BYTES = 16 * 1024 * 1024
MAX_REPORTED_PROBLEMS = 1000
PHONE_HEADERS = ("phone", "phone_number", "number", "mobile", "msisdn", "telephone", "tel")
REASON_HEADERS = ("reason", "note", "notes", "comment")

# async fn(session, owner_id, phone) run in the opt-out's transaction.
Suppressor = Callable[[AsyncSession, str, str], Awaitable[None]]
_suppressors: list[Suppressor] = []


def on_opt_out(fn: Suppressor) -> Suppressor:
    """Register ``fn`` to run whenever a number opts out (decorator). Campaigns use it to
    cancel every queued attempt for that number at once, across campaigns."""
    _suppressors.append(fn)
    return fn


# Built once: constructing the expression costs more CPU than running it on SQLite.
_LISTED = select(DoNotCall.phone).where(
    DoNotCall.owner_id == bindparam("owner"),
    DoNotCall.phone.in_(bindparam("phones", expanding=True)),
)


async def listed(db: Db, owner_id: str | None, phones: list[str]) -> set[str]:
    """The numbers among ``phones`` on the account's list."""
    if not phones:
        return set()
    rows = await db.execute(_LISTED, {"owner": owner_id or "", "phones": phones})
    return set(rows.scalars())


@functools.cache
def _insert_ignore(dialect: str) -> Any:
    """INSERT … ON CONFLICT (owner_id, phone) DO NOTHING RETURNING phone: a number already
    listed keeps its first entry (and its source)."""
    table = DoNotCall.__table__  # type: ignore[attr-defined]
    ins = pg_insert(table) if dialect == "postgresql" else sqlite_insert(table)
    return ins.on_conflict_do_nothing(index_elements=["owner_id", "phone"]).returning(table.c.phone)


def _row(owner_id: str, phone: str, source: str, reason: str | None, call_id: str | None):
    return {
        "id": new_id(),
        "owner_id": owner_id,
        "phone": phone,
        "call_id": call_id,
        "reason": (reason or "")[:500] or None,
        "source": source,
        "created_at": clock.now(),
    }


async def _add_many(db: Db, rows: list[dict[str, Any]]) -> set[str]:
    """Insert what is not listed yet; returns the phones that were added."""
    added: set[str] = set()
    dialect = db.get_bind().dialect if isinstance(db, AsyncSession) else db.dialect
    stmt = _insert_ignore(dialect.name)
    for start in range(0, len(rows), 1000):
        chunk = rows[start : start + 1000]
        added.update((await db.execute(stmt, chunk)).scalars())
    return added


async def add(
    session: AsyncSession,
    owner_id: str | None,
    phone: str,
    *,
    source: str,
    reason: str | None = None,
    call_id: str | None = None,
) -> bool:
    """List ``phone`` (E.164); False when it already was."""
    return bool(await _add_many(session, [_row(owner_id or "", phone, source, reason, call_id)]))


async def opt_out(
    session: AsyncSession,
    owner_id: str | None,
    phone: str,
    *,
    call_id: str | None = None,
    reason: str | None = None,
) -> bool:
    """The lead asked not to be called again: list the number and suppress everything
    queued for it, in the caller's transaction. Idempotent."""
    added = await add(session, owner_id, phone, source="opt_out", reason=reason, call_id=call_id)
    for suppress in _suppressors:
        await suppress(session, owner_id or "", phone)
    return added


async def remove(session: AsyncSession, owner_id: str, phone: str) -> None:
    """Unlist a number added by the API or an import. A lead's own opt-out stays: only the
    lead can withdraw it (409)."""
    entry = (
        await session.execute(
            select(DoNotCall).where(DoNotCall.owner_id == owner_id, DoNotCall.phone == phone)
        )
    ).scalar_one_or_none()
    if entry is None:
        raise NotFound("This number is not on your do-not-call list")
    if entry.source == "opt_out":
        raise Conflict(
            "The lead asked not to be called again during a call; that opt-out cannot be "
            "removed through the API"
        )
    await session.execute(delete(DoNotCall).where(DoNotCall.id == entry.id))


async def entries(
    session: AsyncSession, owner_id: str, *, phone: str | None, limit: int, offset: int
) -> tuple[list[DoNotCall], int]:
    stmt = select(DoNotCall).where(DoNotCall.owner_id == owner_id)
    count = select(func.count()).select_from(DoNotCall).where(DoNotCall.owner_id == owner_id)
    if phone:
        stmt, count = stmt.where(DoNotCall.phone == phone), count.where(DoNotCall.phone == phone)
    stmt = stmt.order_by(DoNotCall.created_at.desc(), DoNotCall.id).limit(limit).offset(offset)
    return list((await session.execute(stmt)).scalars()), int(await session.scalar(count) or 0)


# --- phones as people type them ---------------------------------------------------------------


def parse_phone(value: str, default_region: str | None) -> str:
    """E.164 of a phone written any common way ("+971 50 123 4567", "(212) 555-0100" with
    a default region, "00971…"). Raises ValueError with the reason it is not one."""
    raw = value.strip()
    if not raw:
        raise ValueError("no phone number")
    if raw.startswith("00") and not default_region:
        raw = "+" + raw[2:]
    if not raw.startswith("+") and not default_region:
        raise ValueError(
            "no country code: write it as +<country code><number>, or pass default_region"
        )
    try:
        parsed = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException:
        raise ValueError("not a phone number") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError("not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def check_region(region: str | None) -> str | None:
    if region is None:
        return None
    region = region.strip().upper()
    if region not in phonenumbers.SUPPORTED_REGIONS:
        raise BadRequest(f"default_region {region!r} is not a region code such as AE, US or GB")
    return region


# --- CSV import ---------------------------------------------------------------------------------


@dataclass
class ImportReport:
    rows: int = 0
    added: int = 0
    already_listed: int = 0
    duplicates: int = 0
    rejected: int = 0
    # Every row that was not added: {row, value, status, detail} (the first 1000).
    problems: list[dict[str, Any]] = field(default_factory=list)
    problems_truncated: bool = False

    def problem(self, row: int, value: str, status: str, detail: str) -> None:
        if len(self.problems) < MAX_REPORTED_PROBLEMS:
            self.problems.append(
                {"row": row, "value": value[:100], "status": status, "detail": detail}
            )
        else:
            self.problems_truncated = True


async def import_csv(
    session: AsyncSession,
    owner_id: str,
    data: bytes,
    *,
    default_region: str | None = None,
    reason: str | None = None,
) -> ImportReport:
    """Add every valid number of an uploaded CSV; report each row that was not added
    (bad phone, duplicate within the file, already listed) without failing the good ones.
    The phone column is the one headed phone/number/mobile/…; without a header row, the
    first column is the phone and the second the reason."""
    if not data.strip():
        raise BadRequest("The CSV is empty")
    table = csvio.read_table(
        csvio.decode(data), header_names=PHONE_HEADERS, max_rows=MAX_IMPORT_ROWS
    )
    if table.header is None:  # no header: the phone, then an optional reason
        phone_col, reason_col = 0, 1
    else:
        phone_col, reason_col = table.column(*PHONE_HEADERS) or 0, table.column(*REASON_HEADERS)
    report = ImportReport()
    first_row: dict[str, int] = {}
    rows: list[dict[str, Any]] = []
    row_of: dict[str, int] = {}
    for number, cells in table.rows:
        report.rows += 1
        value = cells[phone_col].strip() if phone_col < len(cells) else ""
        try:
            phone = parse_phone(value, default_region)
        except ValueError as exc:
            report.rejected += 1
            report.problem(number, value, "rejected", str(exc))
            continue
        if phone in first_row:
            report.duplicates += 1
            report.problem(number, value, "duplicate", f"same number as row {first_row[phone]}")
            continue
        first_row[phone] = number
        row_reason = (
            cells[reason_col].strip() if reason_col is not None and reason_col < len(cells) else ""
        )
        rows.append(_row(owner_id, phone, "import", row_reason or reason, None))
        row_of[phone] = number
    added = await _add_many(session, rows)
    report.added = len(added)
    for row in rows:
        if row["phone"] not in added:
            report.already_listed += 1
            number = row_of[row["phone"]]
            report.problem(number, row["phone"], "already_listed", "already on the list")
    report.problems.sort(key=lambda p: p["row"])
    return report


__all__ = [
    "BLOCKED_REASON",
    "ImportReport",
    "add",
    "entries",
    "import_csv",
    "listed",
    "on_opt_out",
    "opt_out",
    "parse_phone",
    "remove",
]
