from __future__ import annotations

from fastapi import APIRouter, status

from nova.accounts import service
from nova.accounts.schemas import (
    CheckEmailResponse,
    EmailRequest,
    FeaturesOut,
    LoginRequest,
    RegisterRequest,
    TokenResponse,
    UserOut,
)
from nova.api.deps import CurrentUser, SessionDep, SettingsDep
from nova.core.security import create_access_token

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


@router.post("/auth/login", response_model=TokenResponse)
async def login(body: LoginRequest, session: SessionDep, settings: SettingsDep):
    user = await service.authenticate(session, body.email, body.password)
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
