"""``/me/transfer``: the number a person answers when the agent transfers a call.

GET    /me/transfer   → {configured, phone_e164, mode, updated_at}
PUT    /me/transfer   {"phone_e164": "+14155550123", "mode": "warm"|"cold"} → the same
DELETE /me/transfer   → 204 (idempotent)
"""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from nova.api.deps import CurrentUser, SessionDep
from nova.transfer import service
from nova.transfer.schemas import TransferSettingsIn, TransferSettingsOut

router = APIRouter(prefix="/me", tags=["auth"])


@router.get("/transfer", response_model=TransferSettingsOut)
async def get_transfer(user: CurrentUser, session: SessionDep):
    return TransferSettingsOut.of(await service.get_target(session, user.id))


@router.put("/transfer", response_model=TransferSettingsOut)
async def set_transfer(body: TransferSettingsIn, user: CurrentUser, session: SessionDep):
    row = await service.set_target(session, user.id, body.phone_e164, body.mode)
    return TransferSettingsOut.of(row)


@router.delete("/transfer", status_code=status.HTTP_204_NO_CONTENT)
async def clear_transfer(user: CurrentUser, session: SessionDep) -> Response:
    await service.clear_target(session, user.id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
