"""invitation lifecycle: subroles, user profile and credentials, refresh tokens

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01

- `subroles` (per customer, with permissions); admin, cro and risk_analyst for every customer.
- `users`: the published profile fields, `subrole_id` (replacing the free-text `subrole`), the
  platform-admin flag, an Argon2id password hash, and e-mail uniqueness per customer on the
  normalised address (was: global, as typed).
- `customers`: the published company fields.
- `refresh_tokens` (hash only).

The subroles and their permissions are written out here rather than imported from the models:
a migration must keep meaning what it meant when it shipped.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

SUBROLES = (
    (
        "admin",
        "Admin",
        "Manages the customer's users",
        ["users:read", "users:write", "users:resend-invite"],
    ),
    ("cro", "CRO", "Chief risk officer: reads the customer's users", ["users:read"]),
    ("risk_analyst", "Risk Analyst", "Reads the customer's users", ["users:read"]),
)
# 0001 stored a free-text subrole; these map onto the new ones (anything else: no subrole).
LEGACY_SUBROLES = {
    "admin": "admin",
    "platform-admin": "admin",
    "cro": "cro",
    "risk_analyst": "risk_analyst",
}


def upgrade() -> None:
    op.create_table(
        "subroles",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), nullable=False),
        sa.Column("code", sa.String(length=50), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("display_name", sa.String(length=100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("role_id", sa.Integer(), nullable=False),
        sa.Column("permissions", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["customer_id"], ["customers.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("customer_id", "code", name="uq_subroles_customer_code"),
    )
    op.create_table(
        "refresh_tokens",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.create_index("ix_refresh_tokens_user", ["user_id"], unique=False)

    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("contact_number", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("is_active", sa.Boolean(), server_default=sa.text("true"), nullable=False)
        )
        batch_op.add_column(sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True))

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("email_normalized", sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column("mobile", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("subrole_id", sa.Uuid(), nullable=True))
        for name, default in (
            ("is_email_verified", "false"),
            ("is_first_login", "true"),
            ("is_platform_admin", "false"),
        ):
            batch_op.add_column(
                sa.Column(name, sa.Boolean(), server_default=sa.text(default), nullable=False)
            )
        batch_op.add_column(sa.Column("password_hash", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("created_by", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("updated_by", sa.Uuid(), nullable=True))

    _backfill()

    bind = op.get_bind()
    if bind.dialect.name == "postgresql":
        op.drop_constraint("users_email_key", "users", type_="unique")
        copy_from = None
    else:
        # SQLite's UNIQUE(email) has no name, so batch mode cannot drop it from the reflected
        # table: the table is described here instead, without it, and rebuilt from that.
        copy_from = _users_before_rebuild()
    with op.batch_alter_table("users", schema=None, copy_from=copy_from) as batch_op:
        batch_op.alter_column(
            "email_normalized", existing_type=sa.String(length=320), nullable=False
        )
        batch_op.drop_column("subrole")
        batch_op.create_foreign_key("fk_users_subrole_id", "subroles", ["subrole_id"], ["id"])
        batch_op.create_unique_constraint(
            "uq_users_customer_email", ["customer_id", "email_normalized"]
        )
        batch_op.create_index(batch_op.f("ix_users_subrole_id"), ["subrole_id"], unique=False)


def _users_before_rebuild() -> sa.Table:
    """`users` as 0001 and the columns above left it, minus the global UNIQUE(email)."""
    return sa.Table(
        "users",
        sa.MetaData(),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("customer_id", sa.Uuid(), sa.ForeignKey("customers.id"), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("first_name", sa.String(length=100), nullable=False),
        sa.Column("last_name", sa.String(length=100), nullable=False),
        sa.Column("subrole", sa.String(length=50), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "INVITED", "ACTIVE", "INACTIVE", name="userstatus", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("email_normalized", sa.String(length=320), nullable=True),
        sa.Column("mobile", sa.String(length=32), nullable=True),
        sa.Column("subrole_id", sa.Uuid(), nullable=True),
        sa.Column(
            "is_email_verified", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column("is_first_login", sa.Boolean(), server_default=sa.text("true"), nullable=False),
        sa.Column(
            "is_platform_admin", sa.Boolean(), server_default=sa.text("false"), nullable=False
        ),
        sa.Column("password_hash", sa.String(length=255), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("updated_by", sa.Uuid(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.Index("ix_users_customer_id", "customer_id"),
    )


def _backfill() -> None:
    bind = op.get_bind()
    now = datetime.now(UTC)
    stamp = now.replace(tzinfo=None) if bind.dialect.name == "sqlite" else now
    subroles = sa.table(
        "subroles",
        sa.column("id", sa.Uuid()),
        sa.column("customer_id", sa.Uuid()),
        sa.column("code", sa.String()),
        sa.column("label", sa.String()),
        sa.column("display_name", sa.String()),
        sa.column("description", sa.Text()),
        sa.column("role_id", sa.Integer()),
        sa.column("permissions", sa.JSON()),
        sa.column("created_at", sa.DateTime(timezone=True)),
    )
    users = sa.table(
        "users",
        sa.column("id", sa.Uuid()),
        sa.column("customer_id", sa.Uuid()),
        sa.column("email", sa.String()),
        sa.column("email_normalized", sa.String()),
        sa.column("subrole", sa.String()),
        sa.column("subrole_id", sa.Uuid()),
        sa.column("is_platform_admin", sa.Boolean()),
    )
    customer_ids = [row[0] for row in bind.execute(sa.text("SELECT id FROM customers"))]
    by_code: dict[tuple[str, str], uuid.UUID] = {}
    for raw_id in customer_ids:
        customer_id = raw_id if isinstance(raw_id, uuid.UUID) else uuid.UUID(str(raw_id))
        for code, label, description, permissions in SUBROLES:
            subrole_id = uuid.uuid4()
            by_code[(str(customer_id), code)] = subrole_id
            bind.execute(
                subroles.insert().values(
                    id=subrole_id,
                    customer_id=customer_id,
                    code=code,
                    label=label,
                    display_name=label,
                    description=description,
                    role_id=2,
                    permissions=list(permissions),
                    created_at=stamp,
                )
            )
    for user_id, customer_id, email, legacy in bind.execute(
        sa.select(users.c.id, users.c.customer_id, users.c.email, users.c.subrole)
    ).all():
        new_code = LEGACY_SUBROLES.get(legacy)
        new_subrole = by_code.get((str(customer_id), new_code)) if new_code else None
        bind.execute(
            users.update()
            .where(users.c.id == user_id)
            .values(
                email_normalized=email.strip().lower(),
                subrole_id=new_subrole,
                is_platform_admin=legacy == "platform-admin",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("subrole", sa.String(length=50), server_default="member", nullable=False)
        )
    op.execute(
        "UPDATE users SET subrole = COALESCE("
        "(SELECT code FROM subroles WHERE subroles.id = users.subrole_id), 'member')"
    )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_users_subrole_id"))
        batch_op.drop_constraint("uq_users_customer_email", type_="unique")
        batch_op.drop_constraint("fk_users_subrole_id", type_="foreignkey")
        for name in (
            "updated_by",
            "created_by",
            "password_hash",
            "is_platform_admin",
            "is_first_login",
            "is_email_verified",
            "subrole_id",
            "mobile",
            "email_normalized",
        ):
            batch_op.drop_column(name)
        # Fails if two customers now share an address: 0001 allowed an address only once.
        batch_op.create_unique_constraint("users_email_key", ["email"])
    with op.batch_alter_table("customers", schema=None) as batch_op:
        batch_op.drop_column("updated_at")
        batch_op.drop_column("is_active")
        batch_op.drop_column("contact_number")
    with op.batch_alter_table("refresh_tokens", schema=None) as batch_op:
        batch_op.drop_index("ix_refresh_tokens_user")
    op.drop_table("refresh_tokens")
    op.drop_table("subroles")
