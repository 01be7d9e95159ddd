"""Voice cloning: signed consent records, voice profiles and their enrolment audio."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, LargeBinary
from sqlmodel import Field, SQLModel

from nova.models.base import created_field, dt_field, id_field


class VoiceConsent(SQLModel, table=True):
    """One signature of one consent version (kept after profiles are revoked: audit)."""

    __tablename__ = "voice_consents"

    id: str = id_field()
    user_id: str = Field(foreign_key="users.id", max_length=36, index=True)
    version: str = Field(max_length=32)
    # SHA-256 of the exact text that was shown, so the record proves what was signed.
    text_sha256: str = Field(max_length=64)
    typed_name: str = Field(max_length=200)
    ip: str | None = Field(default=None, max_length=64)
    user_agent: str | None = Field(default=None, max_length=300)
    signed_at: datetime = created_field()


class VoiceProfile(SQLModel, table=True):
    """A cloned voice. processing → ready | failed; revoked when the owner deletes it."""

    __tablename__ = "voice_profiles"

    id: str = id_field()
    user_id: str = Field(foreign_key="users.id", max_length=36)
    consent_id: str = Field(foreign_key="voice_consents.id", max_length=36)
    name: str = Field(max_length=100)
    # processing | ready | failed | revoked
    status: str = Field(default="processing", max_length=16)
    error: str | None = Field(default=None, max_length=500)
    active: bool = False
    audio_format: str = Field(max_length=8)
    audio_bytes: int = 0
    provider: str = Field(default="elevenlabs", max_length=32)
    provider_voice_id: str | None = Field(default=None, max_length=128)
    process_attempts: int = 0
    ready_at: datetime | None = dt_field()
    revoked_at: datetime | None = dt_field()
    # Set once the provider confirmed the clone is gone (or never existed).
    provider_deleted_at: datetime | None = dt_field()
    created_at: datetime = created_field()

    __table_args__ = (Index("ix_voice_profiles_user_created", "user_id", "created_at"),)


class VoiceSample(SQLModel, table=True):
    """Enrolment audio waiting for the background clone job; deleted once it has run."""

    __tablename__ = "voice_samples"

    id: str = id_field()
    profile_id: str = Field(foreign_key="voice_profiles.id", max_length=36, unique=True)
    content_type: str = Field(max_length=64)
    filename: str = Field(max_length=128)
    data: bytes = Field(sa_type=LargeBinary, nullable=False)
    created_at: datetime = created_field()
