"""Accounts: users, password-reset codes."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from nova.models.base import created_field, dt_field, id_field, json_field


class User(SQLModel, table=True):
    __tablename__ = "users"

    id: str = id_field()
    email: str = Field(max_length=320, unique=True, index=True)
    password_hash: str = Field(max_length=255)
    name: str | None = Field(default=None, max_length=200)
    phone: str | None = Field(default=None, max_length=32)
    email_verified: bool = False
    country: str | None = Field(default=None, max_length=2)
    is_admin: bool = False
    # Bumped by a password reset: tokens carrying an older version stop working.
    token_version: int = 0
    # Per-user feature flags, set by `nova user flags` (voice_cloning, byo_twilio).
    features: dict = json_field()
    referral_code: str | None = Field(default=None, max_length=32, unique=True, index=True)
    referred_by_id: str | None = Field(default=None, foreign_key="users.id", max_length=36)
    created_at: datetime = created_field()


class PasswordResetCode(SQLModel, table=True):
    __tablename__ = "password_reset_codes"

    id: str = id_field()
    email: str = Field(max_length=320, index=True)
    user_id: str | None = Field(default=None, foreign_key="users.id", max_length=36)
    code_hash: str = Field(max_length=128)
    attempts: int = 0
    used_at: datetime | None = dt_field()
    # Requests beyond the hourly limit are recorded but no code is sent.
    sent: bool = True
    expires_at: datetime = dt_field(nullable=False)
    created_at: datetime = created_field()
