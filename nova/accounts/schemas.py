from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, EmailStr, Field

from nova.core.settings import get_settings


def _normalise_email(value: str) -> str:
    return value.strip().lower()


Email = Annotated[EmailStr, AfterValidator(_normalise_email)]


def _check_password(value: str) -> str:
    s = get_settings()
    if len(value) < s.password_min_length:
        raise ValueError(f"Password must be at least {s.password_min_length} characters")
    if len(value) > s.password_max_length:
        raise ValueError(f"Password must be at most {s.password_max_length} characters")
    return value


def _password_bounds(schema: dict) -> None:
    """The configured bounds, in the OpenAPI document too."""
    s = get_settings()
    schema.update(minLength=s.password_min_length, maxLength=s.password_max_length)


Password = Annotated[
    str, Field(json_schema_extra=_password_bounds), AfterValidator(_check_password)
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=False)


class RegisterRequest(_Strict):
    email: Email
    password: Password
    name: str | None = Field(default=None, max_length=200)
    referral_code: str | None = Field(default=None, max_length=32)


class LoginRequest(_Strict):
    email: Email
    # Not validated for length beyond a sane cap: a wrong password is a 401, not a 422.
    password: str = Field(max_length=1024)


class EmailRequest(_Strict):
    email: Email


class ResetPasswordRequest(_Strict):
    email: Email
    code: str = Field(min_length=1, max_length=16)
    new_password: Password


class UserOut(BaseModel):
    id: str
    email: str
    name: str | None = None
    email_verified: bool
    phone: str | None = None
    # True when ``phone`` is a number this account proved it owns (a one-time code).
    phone_verified: bool = False
    trial_active: bool
    trial_minutes_remaining: float
    created_at: datetime


class TokenResponse(BaseModel):
    access_token: str
    token_type: str = "bearer"  # noqa: S105 - the OAuth token type, not a secret
    user: UserOut


class CheckEmailResponse(BaseModel):
    exists: bool


class MessageResponse(BaseModel):
    message: str


class FeaturesOut(BaseModel):
    voice_cloning: bool = False
    byo_twilio: bool = False
