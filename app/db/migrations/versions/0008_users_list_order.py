"""users list order: an index on (customer_id, created_at, id), the list's filter and order

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05

A page of a customer's users (authsvc.services.read_users) is ordered by `created_at, id`. With
only `ix_users_customer_id`, PostgreSQL read and sorted every user of the customer for each page
(a sort spilling to disk at 100,000 users); with this index it walks the customer's entries in
order and stops after the page, reading the index alone (bench/results/2026-12-05-list-profile.md).
`ix_users_customer_id` stays: deduplicated, it is the smallest index to count a customer's users.
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_users_customer_created", "users", ["customer_id", "created_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_users_customer_created", table_name="users")
