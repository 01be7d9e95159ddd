from __future__ import annotations

from datetime import datetime
from typing import Literal

import phonenumbers
from pydantic import BaseModel, ConfigDict, field_validator

from nova.core.phone import E164
from nova.models.transfer import TransferTarget

TransferMode = Literal["warm", "cold"]

# Strict E.164 (nova.core.phone): no spaces, dashes or brackets, the number is dialled
# exactly as stored.
# Numbers a transfer must never ring: they bill the caller (toll fraud through our trunk).
REFUSED_TYPES = {
    phonenumbers.PhoneNumberType.PREMIUM_RATE: "a premium-rate number",
    phonenumbers.PhoneNumberType.SHARED_COST: "a shared-cost number",
}


def check_e164(value: str) -> str:
    if not E164.match(value):
        raise ValueError(
            "phone_e164 must be in E.164 format: '+', the country code and the number, "
            "digits only (e.g. +14155550123)"
        )
    try:
        parsed = phonenumbers.parse(value, None)
    except phonenumbers.NumberParseException:
        raise ValueError("phone_e164 is not a phone number") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError("phone_e164 is not a valid number for its country")
    refused = REFUSED_TYPES.get(phonenumbers.number_type(parsed))
    if refused:
        raise ValueError(f"phone_e164 is {refused}: transfers cannot ring it")
    if phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164) != value:
        raise ValueError("phone_e164 is not in canonical E.164 form (no national prefix)")
    return value


class TransferSettingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    phone_e164: str
    mode: TransferMode = "warm"

    @field_validator("phone_e164")
    @classmethod
    def _e164(cls, v: str) -> str:
        return check_e164(v)


class TransferSettingsOut(BaseModel):
    configured: bool
    phone_e164: str | None = None
    mode: TransferMode | None = None
    updated_at: datetime | None = None

    @classmethod
    def of(cls, row: TransferTarget | None) -> TransferSettingsOut:
        if row is None:
            return cls(configured=False)
        return cls(
            configured=True,
            phone_e164=row.phone,
            mode=row.mode,  # type: ignore[arg-type]
            updated_at=row.updated_at,
        )
