from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from nova.core.phone import E164, E164_PATTERN
from nova.models.twilio import TwilioCredential, TwilioNumber


class CredentialsIn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    account_sid: str = Field(pattern=r"^AC[0-9a-fA-F]{32}$")
    api_key_sid: str = Field(pattern=r"^SK[0-9a-fA-F]{32}$")
    # SecretStr: never echoed by repr, logs or validation errors.
    api_key_secret: SecretStr = Field(min_length=16, max_length=128)


class CredentialStatus(BaseModel):
    # not_configured | stored (not checked yet) | valid | invalid
    status: Literal["not_configured", "stored", "valid", "invalid"]
    sid_last4: str | None = None
    validated_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def of(cls, row: TwilioCredential | None) -> CredentialStatus:
        if row is None:
            return cls(status="not_configured")
        return cls(
            status=row.status,  # type: ignore[arg-type]
            sid_last4=row.sid_last4,
            validated_at=row.validated_at,
            updated_at=row.updated_at,
        )


class ValidationOut(CredentialStatus):
    valid: bool
    detail: str | None = None


class CredentialsRevoked(BaseModel):
    status: Literal["revoked"] = "revoked"
    numbers_removed: int
    twilio_cleanup: str


class AvailableNumber(BaseModel):
    sid: str
    phone_number: str
    friendly_name: str | None = None
    capabilities: dict[str, bool] = Field(default_factory=dict)
    imported: bool


class AvailableNumbers(BaseModel):
    numbers: list[AvailableNumber]


class ImportRequest(BaseModel):
    # Exactly one of the two, in the OpenAPI document too.
    model_config = ConfigDict(
        str_strip_whitespace=True,
        json_schema_extra={
            "oneOf": [
                {
                    "required": ["phone_number"],
                    "properties": {"phone_number": {"type": "string"}, "sid": {"type": "null"}},
                },
                {
                    "required": ["sid"],
                    "properties": {"sid": {"type": "string"}, "phone_number": {"type": "null"}},
                },
            ]
        },
    )

    phone_number: str | None = Field(default=None, json_schema_extra={"pattern": E164_PATTERN})
    sid: str | None = Field(default=None, pattern=r"^PN[0-9a-fA-F]{32}$")

    @field_validator("phone_number")
    @classmethod
    def _e164(cls, v: str | None) -> str | None:
        if v is None:
            return v
        v = re.sub(r"[\s().-]", "", v)
        if not E164.match(v):
            raise ValueError("phone_number must be in E.164 format, e.g. +14155550123")
        return v

    @model_validator(mode="after")
    def _one(self) -> ImportRequest:
        if bool(self.phone_number) == bool(self.sid):
            raise ValueError("give exactly one of phone_number or sid")
        return self


class NumberOut(BaseModel):
    id: str
    phone_number: str
    status: Literal["pending_verification", "active"]
    is_default: bool
    verified_at: datetime | None = None
    created_at: datetime

    @classmethod
    def of(cls, n: TwilioNumber) -> NumberOut:
        return cls(
            id=n.id,
            phone_number=n.phone_number,
            status=n.status,  # type: ignore[arg-type]
            is_default=n.is_default,
            verified_at=n.verified_at,
            created_at=n.created_at,
        )


class NumberList(BaseModel):
    numbers: list[NumberOut]


class OtpSent(BaseModel):
    number_id: str
    sent: bool = True
    expires_at: datetime


class VerifyRequest(BaseModel):
    code: str = Field(pattern=r"^[0-9]{6}$")


class NumberRevoked(BaseModel):
    id: str
    status: Literal["revoked"] = "revoked"
