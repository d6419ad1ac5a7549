"""throttle: counted events of throttled keys (client addresses, users, customers)

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

One table for every limit of the service (authsvc.services.throttle): attempts to accept an
invitation per client address, invitation mails per customer and per user, and later the
sign-in and reset limits. Counting in the database makes a limit hold across processes and
instances.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "throttle_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("key_digest", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_throttle_events_key", "throttle_events", ["scope", "key_digest", "at"], unique=False
    )
    op.create_index("ix_throttle_events_expires", "throttle_events", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_throttle_events_expires", table_name="throttle_events")
    op.drop_index("ix_throttle_events_key", table_name="throttle_events")
    op.drop_table("throttle_events")
