"""Where an account's calls are transferred when the lead asks for a person."""

from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from nova.models.base import created_field, dt_field


class TransferTarget(SQLModel, table=True):
    """One per account: the human number (E.164) and how the agent hands the lead over
    (``warm``: the agent briefs the person first; ``cold``: a SIP transfer at once)."""

    __tablename__ = "transfer_targets"

    user_id: str = Field(primary_key=True, foreign_key="users.id", max_length=36)
    phone: str = Field(max_length=16)
    mode: str = Field(default="warm", max_length=8)
    created_at: datetime = created_field()
    updated_at: datetime = dt_field(nullable=False)
