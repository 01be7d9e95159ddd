"""dial pipeline: a call records how long it may last (the reconciler ends it after that
plus a grace period) and, when the compliance gate deferred it, when it may be dialed

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-01 23:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import nova.models.base

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("calls") as batch_op:
        batch_op.add_column(sa.Column("max_duration_seconds", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("not_before", nova.models.base.UTCDateTime(timezone=True), nullable=True)
        )
    # The reconciler's scan: calls still in progress, oldest first.
    op.create_index("ix_calls_status_started", "calls", ["status", "started_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_calls_status_started", table_name="calls")
    with op.batch_alter_table("calls") as batch_op:
        batch_op.drop_column("not_before")
        batch_op.drop_column("max_duration_seconds")
