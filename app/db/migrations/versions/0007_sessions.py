"""sessions: sign-in sessions, rotating refresh tokens, a per-user not-before, global e-mails

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02

- `sessions`: one row per sign-in; every token the service issues names one (`sid`).
- `refresh_tokens`: `session_id`, `parent_id`, `rotated_at` (rotation with reuse detection).
  Tokens issued before sessions existed belong to none and are revoked here.
- `users.tokens_valid_after`: stops another issuer's tokens on deactivation or password reset.
- `password_resets`: reset-password links (forgot password), their tokens stored hashed.
- E-mail is the sign-in identifier: a normalised address is unique across all customers. If two
  users already share one, the upgrade stops with one line naming the addresses.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    bind = op.get_bind()
    duplicates = [
        row[0]
        for row in bind.execute(
            sa.text(
                "SELECT email_normalized FROM users GROUP BY email_normalized "
                "HAVING COUNT(*) > 1 ORDER BY email_normalized"
            )
        )
    ]
    if duplicates:
        raise RuntimeError(
            "e-mail addresses must be unique across customers before upgrading; held by more "
            f"than one user: {', '.join(duplicates)}"
        )
    op.create_table(
        "sessions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_used_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("idle_expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_reason", sa.String(length=32), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_sessions_user", "sessions", ["user_id"])
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("parent_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("rotated_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            "fk_refresh_tokens_session_id", "sessions", ["session_id"], ["id"]
        )
        batch_op.create_index("ix_refresh_tokens_session", ["session_id"], unique=False)
    now = datetime.now(UTC)
    stamp = now.replace(tzinfo=None) if bind.dialect.name == "sqlite" else now
    bind.execute(
        sa.text("UPDATE refresh_tokens SET revoked_at = :now WHERE revoked_at IS NULL"),
        {"now": stamp},
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("tokens_valid_after", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_unique_constraint("uq_users_email_normalized", ["email_normalized"])
    op.create_table(
        "password_resets",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_password_resets_user", "password_resets", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_password_resets_user", table_name="password_resets")
    op.drop_table("password_resets")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_constraint("uq_users_email_normalized", type_="unique")
        batch_op.drop_column("tokens_valid_after")
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_refresh_tokens_session")
        batch_op.drop_constraint("fk_refresh_tokens_session_id", type_="foreignkey")
        batch_op.drop_column("rotated_at")
        batch_op.drop_column("parent_id")
        batch_op.drop_column("session_id")
    op.drop_index("ix_sessions_user", table_name="sessions")
    op.drop_table("sessions")
