"""The account's transfer settings: read, set (upsert), clear. Owner-scoped: every
function takes the user id from the authenticated caller, never from the request."""

from __future__ import annotations

from sqlalchemy import delete
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from nova.core import clock
from nova.models.transfer import TransferTarget


async def get_target(session: AsyncSession, user_id: str) -> TransferTarget | None:
    return await session.get(TransferTarget, user_id)


async def set_target(session: AsyncSession, user_id: str, phone: str, mode: str) -> TransferTarget:
    now = clock.now()
    row = await session.get(TransferTarget, user_id, with_for_update=True)
    if row is None:
        try:
            async with session.begin_nested():
                row = TransferTarget(
                    user_id=user_id, phone=phone, mode=mode, created_at=now, updated_at=now
                )
                session.add(row)
            return row
        except IntegrityError:  # a concurrent PUT inserted it first: update theirs
            row = await session.get(TransferTarget, user_id, with_for_update=True)
            assert row is not None
    row.phone, row.mode, row.updated_at = phone, mode, now
    session.add(row)
    await session.flush()
    return row


async def clear_target(session: AsyncSession, user_id: str) -> None:
    await session.execute(delete(TransferTarget).where(TransferTarget.user_id == user_id))


async def transfer_for_dial(session: AsyncSession, user_id: str) -> tuple[str, str] | None:
    """(human number, mode) the agent may transfer this account's SIP calls to, or None."""
    row = await get_target(session, user_id)
    return (row.phone, row.mode) if row is not None else None
