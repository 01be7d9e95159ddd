"""Bring-your-own Twilio — /twilio/* (behind the ``byo_twilio`` flag: 404 while off)."""

from __future__ import annotations

from fastapi import APIRouter, Depends, status
from fastapi.responses import JSONResponse

from nova.api.deps import CurrentUser, SessionDep, SettingsDep
from nova.twilio_byo import service
from nova.twilio_byo.schemas import (
    AvailableNumber,
    AvailableNumbers,
    CredentialsIn,
    CredentialsRevoked,
    CredentialStatus,
    ImportRequest,
    NumberList,
    NumberOut,
    NumberRevoked,
    OtpSent,
    ValidationOut,
    VerifyRequest,
)


async def _twilio_flag(user: CurrentUser) -> None:
    """404 on every /twilio route (before body validation) while the flag is off."""
    service.require_flag(user)


router = APIRouter(prefix="/twilio", tags=["twilio"], dependencies=[Depends(_twilio_flag)])


@router.post("/credentials", response_model=CredentialStatus)
async def store_credentials(
    body: CredentialsIn, user: CurrentUser, session: SessionDep, settings: SettingsDep
):
    row = await service.store_credentials(
        session,
        settings,
        user,
        account_sid=body.account_sid,
        api_key_sid=body.api_key_sid,
        api_key_secret=body.api_key_secret.get_secret_value(),
    )
    return CredentialStatus.of(row)


@router.post("/credentials/validate", response_model=ValidationOut)
async def validate_credentials(user: CurrentUser, session: SessionDep, settings: SettingsDep):
    row, detail = await service.validate(session, settings, user)
    return ValidationOut(
        **CredentialStatus.of(row).model_dump(), valid=row.status == "valid", detail=detail
    )


@router.get("/credentials", response_model=CredentialStatus)
async def credential_status(user: CurrentUser, session: SessionDep):
    return CredentialStatus.of(await service.get_credential(session, user.id))


@router.delete("/credentials", response_model=CredentialsRevoked)
async def delete_credentials(user: CurrentUser, session: SessionDep, settings: SettingsDep):
    removed, cleanup = await service.delete_credentials(session, settings, user)
    return CredentialsRevoked(numbers_removed=removed, twilio_cleanup=cleanup)


@router.get("/numbers/available", response_model=AvailableNumbers)
async def available_numbers(user: CurrentUser, session: SessionDep, settings: SettingsDep):
    items = await service.available_numbers(session, settings, user)
    return AvailableNumbers(numbers=[AvailableNumber(**i) for i in items])


@router.post("/numbers/import", status_code=status.HTTP_201_CREATED, response_model=NumberOut)
async def import_number(
    body: ImportRequest, user: CurrentUser, session: SessionDep, settings: SettingsDep
):
    number = await service.import_number(
        session, settings, user, phone_number=body.phone_number, sid=body.sid
    )
    return NumberOut.of(number)


@router.post("/numbers/{number_id}/send-otp", response_model=OtpSent)
async def send_otp(number_id: str, user: CurrentUser, session: SessionDep, settings: SettingsDep):
    otp = await service.send_otp(session, settings, user, number_id)
    return OtpSent(number_id=number_id, expires_at=otp.expires_at)


@router.post(
    "/numbers/{number_id}/verify",
    response_model=NumberOut,
    responses={400: {"description": "Wrong, expired or missing code"}},
)
async def verify_number(
    number_id: str,
    body: VerifyRequest,
    user: CurrentUser,
    session: SessionDep,
    settings: SettingsDep,
):
    result, number, left = await service.verify(session, settings, user, number_id, body.code)
    if result is service.VerifyResult.WRONG:
        # Returned, not raised: the counted attempt must be committed.
        return JSONResponse(
            {"detail": f"Invalid verification code ({left} attempts left)"}, status_code=400
        )
    return NumberOut.of(number)


@router.post("/numbers/{number_id}/set-default", response_model=NumberOut)
async def set_default(number_id: str, user: CurrentUser, session: SessionDep):
    return NumberOut.of(await service.set_default(session, user, number_id))


@router.get("/numbers", response_model=NumberList)
async def list_numbers(user: CurrentUser, session: SessionDep):
    return NumberList(numbers=[NumberOut.of(n) for n in await service.list_numbers(session, user)])


@router.delete("/numbers/{number_id}", response_model=NumberRevoked)
async def delete_number(
    number_id: str, user: CurrentUser, session: SessionDep, settings: SettingsDep
):
    number = await service.delete_number(session, settings, user, number_id)
    return NumberRevoked(id=number.id)
