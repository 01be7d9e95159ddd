"""hardening: webhook signing keys sealed at rest (Fernet) instead of stored in the clear;
webhooks.updated_at

The documented scheme makes the stored SHA-256 of a webhook secret the HMAC key itself, so
the old ``secret_hash`` column held signing keys in the clear. Each one is sealed into
``signing_key`` with the key Nova uses at run time (``nova.core.crypto.seal``:
NOVA_ENCRYPTION_KEY, or a key derived from NOVA_JWT_SECRET), so run this migration with the
same environment as the server.

Revision ID: 0013
Revises: 0010
Create Date: 2026-12-01 23:55:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import nova.models.base

revision: str = "0013"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# As in nova.webhooks.signing (kept literal: a migration must not change with the code).
PURPOSE = "webhook-signing-keys"

_webhooks = sa.table(
    "webhooks",
    sa.column("id", sa.String),
    sa.column("secret_hash", sa.String),
    sa.column("signing_key", sa.Text),
    sa.column("created_at", nova.models.base.UTCDateTime(timezone=True)),
    sa.column("updated_at", nova.models.base.UTCDateTime(timezone=True)),
)


def _settings():
    from nova.core.settings import get_settings

    return get_settings()


def upgrade() -> None:
    from nova.core.crypto import seal

    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("signing_key", sa.Text(), nullable=True))
        batch_op.add_column(
            sa.Column("updated_at", nova.models.base.UTCDateTime(timezone=True), nullable=True)
        )
    conn = op.get_bind()
    settings = _settings()
    rows = conn.execute(sa.select(_webhooks.c.id, _webhooks.c.secret_hash)).all()
    for row in rows:
        conn.execute(
            _webhooks.update()
            .where(_webhooks.c.id == row.id)
            .values(signing_key=seal(settings, PURPOSE, row.secret_hash))
        )
    conn.execute(_webhooks.update().values(updated_at=_webhooks.c.created_at))
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.alter_column("signing_key", existing_type=sa.Text(), nullable=False)
        batch_op.alter_column(
            "updated_at",
            existing_type=nova.models.base.UTCDateTime(timezone=True),
            nullable=False,
        )
        batch_op.drop_column("secret_hash")


def downgrade() -> None:
    from nova.core.crypto import unseal

    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("secret_hash", sa.String(length=64), nullable=True))
    conn = op.get_bind()
    settings = _settings()
    rows = conn.execute(sa.select(_webhooks.c.id, _webhooks.c.signing_key)).all()
    for row in rows:
        conn.execute(
            _webhooks.update()
            .where(_webhooks.c.id == row.id)
            .values(secret_hash=unseal(settings, PURPOSE, row.signing_key))
        )
    with op.batch_alter_table("webhooks", schema=None) as batch_op:
        batch_op.alter_column("secret_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.drop_column("updated_at")
        batch_op.drop_column("signing_key")
