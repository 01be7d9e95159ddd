from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field, field_validator

from nova.models.voice import VoiceProfile


class ConsentOut(BaseModel):
    version: str
    text: str
    # The caller's latest signature (any version), so the UI can tell if it is stale.
    signed_version: str | None = None
    signed_at: datetime | None = None


class ConsentSign(BaseModel):
    version: str = Field(min_length=1, max_length=32)
    typed_name: str = Field(min_length=2, max_length=200)

    @field_validator("typed_name")
    @classmethod
    def _strip(cls, v: str) -> str:
        v = " ".join(v.split())
        if len(v) < 2:
            raise ValueError("type your full name")
        return v


class ConsentSigned(BaseModel):
    id: str
    version: str
    typed_name: str
    signed_at: datetime


class EnrollAccepted(BaseModel):
    id: str
    profile_id: str
    status: Literal["processing"] = "processing"


class ProfileOut(BaseModel):
    id: str
    name: str
    status: str
    active: bool
    error: str | None = None
    audio_format: str
    created_at: datetime
    ready_at: datetime | None = None

    @classmethod
    def of(cls, p: VoiceProfile) -> ProfileOut:
        return cls(
            id=p.id,
            name=p.name,
            status=p.status,
            active=p.active,
            error=p.error,
            audio_format=p.audio_format,
            created_at=p.created_at,
            ready_at=p.ready_at,
        )


class ProfileList(BaseModel):
    profiles: list[ProfileOut]
    active_profile_id: str | None = None


class PreviewRequest(BaseModel):
    text: str = Field(min_length=1, max_length=300)


class RevokedOut(BaseModel):
    id: str
    status: Literal["revoked"] = "revoked"
    # pending: the provider-side clone is being deleted in the background; done: confirmed.
    provider_deletion: Literal["pending", "done"]
