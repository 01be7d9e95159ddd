"""call records: record settings, recordings, per-call latency, post-call analyses, the daily analytics
rollups (daily, monthly), and an index on calls by account and creation time

Revision ID: 0014
Revises: 0010
Create Date: 2026-12-01 23:50:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401
from alembic import op

import nova.models.base

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = sqlmodel.sql.sqltypes.AutoString
JSON = nova.models.base.JSONType
DT = nova.models.base.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "record_settings",
        sa.Column("user_id", S(length=36), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=True),
        sa.Column("analysis_schema", JSON(), nullable=True),
        sa.Column("analysis_schema_version", sa.Integer(), nullable=False),
        sa.Column("recording_enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", DT(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("user_id"),
    )
    op.create_table(
        "call_metrics",
        sa.Column("call_id", S(length=36), nullable=False),
        sa.Column("user_id", S(length=36), nullable=True),
        sa.Column("samples", JSON(), nullable=False),
        sa.Column("summary", JSON(), nullable=False),
        sa.Column("interruptions", sa.Integer(), nullable=False),
        sa.Column("turns", sa.Integer(), nullable=False),
        sa.Column("created_at", DT(timezone=True), nullable=False),
        sa.Column("updated_at", DT(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"]),
        sa.PrimaryKeyConstraint("call_id"),
    )
    op.create_index("ix_call_metrics_user_id", "call_metrics", ["user_id"], unique=False)
    op.create_table(
        "call_analyses",
        sa.Column("call_id", S(length=36), nullable=False),
        sa.Column("user_id", S(length=36), nullable=True),
        sa.Column("status", S(length=16), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("data", JSON(), nullable=True),
        sa.Column("model", S(length=200), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", S(length=1000), nullable=True),
        sa.Column("analyzed_at", DT(timezone=True), nullable=True),
        sa.Column("created_at", DT(timezone=True), nullable=False),
        sa.Column("updated_at", DT(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"]),
        sa.PrimaryKeyConstraint("call_id"),
    )
    op.create_index("ix_call_analyses_user_id", "call_analyses", ["user_id"], unique=False)
    for table, period in (("analytics_daily", "day"), ("analytics_monthly", "month")):
        op.create_table(
            table,
            sa.Column("user_id", S(length=36), nullable=False),
            sa.Column("goal", S(length=32), nullable=False),
            sa.Column("calls", sa.Integer(), nullable=False),
            sa.Column("ended", sa.Integer(), nullable=False),
            sa.Column("connected", sa.Integer(), nullable=False),
            sa.Column("failed", sa.Integer(), nullable=False),
            sa.Column("goal_completed", sa.Integer(), nullable=False),
            sa.Column("duration_seconds", sa.Integer(), nullable=False),
            sa.Column("quality_sum", sa.Integer(), nullable=False),
            sa.Column("quality_n", sa.Integer(), nullable=False),
            sa.Column("interruptions", sa.Integer(), nullable=False),
            sa.Column("outcomes", JSON(), nullable=False),
            sa.Column("latency", JSON(), nullable=False),
            sa.Column("summary", JSON(), nullable=False),
            sa.Column("updated_at", DT(timezone=True), nullable=False),
            sa.Column(period, sa.Date(), nullable=False),
            sa.PrimaryKeyConstraint("user_id", period, "goal"),
        )
    op.create_table(
        "call_recordings",
        sa.Column("call_id", S(length=36), nullable=False),
        sa.Column("user_id", S(length=36), nullable=True),
        sa.Column("egress_id", S(length=64), nullable=True),
        sa.Column("status", S(length=16), nullable=False),
        sa.Column("bucket", S(length=255), nullable=False),
        sa.Column("object_key", S(length=512), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=True),
        sa.Column("duration_seconds", sa.Float(), nullable=True),
        sa.Column("error", S(length=1000), nullable=True),
        sa.Column("ended_at", DT(timezone=True), nullable=True),
        sa.Column("deleted_at", DT(timezone=True), nullable=True),
        sa.Column("created_at", DT(timezone=True), nullable=False),
        sa.Column("updated_at", DT(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["call_id"], ["calls.id"]),
        sa.PrimaryKeyConstraint("call_id"),
        sa.UniqueConstraint("egress_id"),
    )
    op.create_index("ix_call_recordings_user_id", "call_recordings", ["user_id"], unique=False)
    op.create_index("ix_calls_user_created", "calls", ["user_id", "created_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_calls_user_created", table_name="calls")
    op.drop_index("ix_call_recordings_user_id", table_name="call_recordings")
    op.drop_table("call_recordings")
    op.drop_table("analytics_monthly")
    op.drop_table("analytics_daily")
    op.drop_index("ix_call_analyses_user_id", table_name="call_analyses")
    op.drop_table("call_analyses")
    op.drop_index("ix_call_metrics_user_id", table_name="call_metrics")
    op.drop_table("call_metrics")
    op.drop_table("record_settings")
