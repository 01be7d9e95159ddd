"""Accounts HTTP API: /auth/* and /me/features."""

from __future__ import annotations

import logging

from fastapi import APIRouter, BackgroundTasks, status
from fastapi.responses import JSONResponse

from nova.accounts import service, throttle
from nova.accounts.schemas import (
    CheckEmailResponse,
    EmailRequest,
    FeaturesOut,
    LoginRequest,
    MessageResponse,
    RegisterRequest,
    ResetPasswordRequest,
    TokenResponse,
    UserOut,
)
from nova.api.deps import ClientIP, CurrentUser, SessionDep, SettingsDep
from nova.core.db import session_scope
from nova.core.mailer import send_mail
from nova.core.security import create_access_token
from nova.core.settings import Settings

log = logging.getLogger("nova.accounts")

router = APIRouter(tags=["auth"])


@router.post("/auth/register", status_code=status.HTTP_201_CREATED, response_model=TokenResponse)
async def register(body: RegisterRequest, session: SessionDep, settings: SettingsDep):
    user = await service.register(
        session,
        settings,
        email=body.email,
        password=body.password,
        name=body.name,
        referral_code=body.referral_code,
    )
    token = create_access_token(settings, user.id, user.token_version)
    return TokenResponse(access_token=token, user=await service.user_out(session, user))


@router.post(
    "/auth/login",
    response_model=TokenResponse,
    responses={
        401: {"description": "Invalid email or password"},
        429: {"description": "Too many login attempts (Retry-After says how long to wait)"},
    },
)
async def login(body: LoginRequest, session: SessionDep, settings: SettingsDep, ip: ClientIP):
    await throttle.before_attempt(settings, body.email, ip)
    user = await service.authenticate(session, body.email, body.password)
    await throttle.succeeded(settings, body.email, ip)
    token = create_access_token(settings, user.id, user.token_version)
    return TokenResponse(access_token=token, user=await service.user_out(session, user))


@router.get("/auth/me", response_model=UserOut)
async def me(user: CurrentUser, session: SessionDep):
    return await service.user_out(session, user)


@router.post("/auth/check-email", response_model=CheckEmailResponse)
async def check_email(body: EmailRequest, session: SessionDep):
    return CheckEmailResponse(exists=await service.get_by_email(session, body.email) is not None)


@router.get("/me/features", response_model=FeaturesOut)
async def my_features(user: CurrentUser):
    return service.features(user)


@router.post("/auth/forgot-password", response_model=MessageResponse)
async def forgot_password(body: EmailRequest, settings: SettingsDep, background: BackgroundTasks):
    # All the work (the lookup, the hourly count, the code, the mail) happens after the
    # response is sent: known and unknown emails are answered by the same code path, in
    # the same time, so the answer's timing says nothing about which accounts exist.
    background.add_task(_issue_reset_code, settings, body.email)
    return MessageResponse(message=service.GENERIC_FORGOT_MESSAGE)


async def _issue_reset_code(settings: Settings, email: str) -> None:
    try:
        async with session_scope() as session:
            issued = await service.request_password_reset(session, settings, email)
    except Exception:
        log.exception("issuing a password reset code failed")
        return
    if issued is not None:
        await _mail_reset_code(settings, *issued)


async def _mail_reset_code(settings: Settings, email: str, code: str) -> None:
    minutes = settings.reset_code_ttl_seconds // 60
    try:
        await send_mail(
            settings,
            email,
            "Your Nova password reset code",
            f"Your Nova password reset code is {code}.\n\n"
            f"It is valid for {minutes} minutes and can be used once. If you did not ask "
            "to reset your password, ignore this message.",
            secret=True,
        )
    except Exception:
        log.exception("sending the password reset mail failed")


@router.post(
    "/auth/reset-password",
    response_model=MessageResponse,
    responses={
        400: {"description": "Invalid or expired code"},
        429: {"description": "Too many attempts"},
    },
)
async def reset_password(body: ResetPasswordRequest, session: SessionDep, settings: SettingsDep):
    outcome = await service.reset_password(
        session, settings, email=body.email, code=body.code, new_password=body.new_password
    )
    # Returned (not raised) so the request's transaction commits the attempt counter.
    if outcome is service.ResetOutcome.LOCKED:
        return JSONResponse({"detail": service.TOO_MANY_ATTEMPTS}, 429)
    if outcome is service.ResetOutcome.INVALID:
        return JSONResponse({"detail": service.INVALID_CODE}, 400)
    await throttle.password_reset(settings, body.email)
    return MessageResponse(message="Password updated. Sign in with your new password.")
