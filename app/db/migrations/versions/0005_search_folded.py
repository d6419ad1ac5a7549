"""search folded: users.search_folded, the e-mail and names folded by Unicode casefold()

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04

A user search used `lower(column) LIKE ...`: SQLite's `lower()` folds ASCII only, so a user
`Ölafsdóttir` was found on PostgreSQL and not on SQLite. The folded text is now written with the
user (authsvc.db.models.search_folded) and searched on both databases alike. Existing rows are
folded here, in Python, since neither database has `casefold()`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def search_folded(email: str, first_name: str, last_name: str) -> str:
    # As authsvc.db.models.search_folded was when this revision was written (kept here, frozen).
    return "\x1f".join(part.casefold() for part in (email, first_name, last_name))


def upgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.add_column(
            sa.Column("search_folded", sa.Text(), nullable=False, server_default="")
        )
    users = sa.table(
        "users",
        sa.column("id", sa.Uuid()),
        sa.column("email", sa.String()),
        sa.column("first_name", sa.String()),
        sa.column("last_name", sa.String()),
        sa.column("search_folded", sa.Text()),
    )
    bind = op.get_bind()
    rows = bind.execute(sa.select(users.c.id, users.c.email, users.c.first_name, users.c.last_name))
    for row in rows.fetchall():
        bind.execute(
            users.update()
            .where(users.c.id == row.id)
            .values(
                search_folded=search_folded(row.email, row.first_name or "", row.last_name or "")
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("users") as batch_op:
        batch_op.drop_column("search_folded")
