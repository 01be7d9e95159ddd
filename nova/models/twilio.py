"""Bring-your-own Twilio: encrypted credentials, imported numbers and ownership OTPs."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Text
from sqlmodel import Field, SQLModel

from nova.models.base import created_field, dt_field, id_field


class TwilioCredential(SQLModel, table=True):
    """One Twilio API key triplet per account, Fernet-encrypted at rest. Never returned."""

    __tablename__ = "twilio_credentials"

    id: str = id_field()
    user_id: str = Field(foreign_key="users.id", max_length=36, unique=True, index=True)
    # Fernet token of {"account_sid", "api_key_sid", "api_key_secret"} (JSON).
    encrypted: str = Field(sa_type=Text, nullable=False)
    sid_last4: str = Field(max_length=4)
    # stored (not checked yet) | valid | invalid
    status: str = Field(default="stored", max_length=16)
    validated_at: datetime | None = dt_field()
    created_at: datetime = created_field()
    updated_at: datetime = created_field()


class TwilioNumber(SQLModel, table=True):
    """A number imported from the customer's Twilio account with its SIP path."""

    __tablename__ = "twilio_numbers"

    id: str = id_field()
    user_id: str = Field(foreign_key="users.id", max_length=36, index=True)
    phone_number: str = Field(max_length=32, unique=True)
    twilio_number_sid: str = Field(max_length=64)
    twilio_trunk_sid: str | None = Field(default=None, max_length=64)
    twilio_credential_list_sid: str | None = Field(default=None, max_length=64)
    termination_uri: str | None = Field(default=None, max_length=255)
    livekit_trunk_id: str | None = Field(default=None, max_length=64)
    # pending_verification | active
    status: str = Field(default="pending_verification", max_length=24)
    is_default: bool = False
    verified_at: datetime | None = dt_field()
    created_at: datetime = created_field()


class TwilioNumberOtp(SQLModel, table=True):
    """One ownership code sent to a number. Rows are kept (per phone number) to enforce the
    send limits even when a number is deleted and imported again."""

    __tablename__ = "twilio_number_otps"

    id: str = id_field()
    user_id: str = Field(foreign_key="users.id", max_length=36)
    phone_number: str = Field(max_length=32)
    number_id: str = Field(max_length=36)
    code_hash: str = Field(max_length=128)
    attempts: int = 0
    used_at: datetime | None = dt_field()
    expires_at: datetime = dt_field(nullable=False)
    created_at: datetime = created_field()

    __table_args__ = (Index("ix_twilio_number_otps_phone_created", "phone_number", "created_at"),)
