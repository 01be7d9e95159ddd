"""compliance: one row per gate decision; where each do-not-call entry came from; an
index for the per-number frequency caps over the account's calls

Revision ID: 0018
Revises: 0010
Create Date: 2026-12-01 23:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from nova.models.base import JSONType, UTCDateTime

revision: str = "0018"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
# do_not_call is created by 0004, on another branch of the history.
depends_on: str | Sequence[str] | None = "0004"


def upgrade() -> None:
    op.create_table(
        "compliance_decisions",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("owner_id", sa.String(length=36), nullable=False),
        sa.Column("call_id", sa.String(length=36), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("lead_ref", sa.String(length=64), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=False),
        sa.Column("verdict", sa.String(length=16), nullable=False),
        sa.Column("rule", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("country", sa.String(length=8), nullable=True),
        sa.Column("profile", sa.String(length=32), nullable=True),
        sa.Column("zones", JSONType(), nullable=False),
        sa.Column("not_before", UTCDateTime(timezone=True), nullable=True),
        sa.Column("detail", JSONType(), nullable=False),
        sa.Column("created_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_compliance_decisions_call_id", "compliance_decisions", ["call_id"], unique=False
    )
    op.create_index(
        "ix_compliance_decisions_owner_phone",
        "compliance_decisions",
        ["owner_id", "phone", "created_at"],
        unique=False,
    )
    op.create_index(
        "ix_compliance_decisions_owner_created",
        "compliance_decisions",
        ["owner_id", "created_at"],
        unique=False,
    )
    with op.batch_alter_table("do_not_call", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("source", sa.String(length=16), nullable=False, server_default="opt_out")
        )
    # Frequency caps read an account's recent calls to a few numbers.
    op.create_index("ix_calls_user_phone_created", "calls", ["user_id", "phone", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_calls_user_phone_created", table_name="calls")
    with op.batch_alter_table("do_not_call", schema=None) as batch_op:
        batch_op.drop_column("source")
    op.drop_index("ix_compliance_decisions_owner_created", table_name="compliance_decisions")
    op.drop_index("ix_compliance_decisions_owner_phone", table_name="compliance_decisions")
    op.drop_index("ix_compliance_decisions_call_id", table_name="compliance_decisions")
    op.drop_table("compliance_decisions")
