"""sealed outbox: queued mail keeps its template, parameters and sealed token, never its text

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04

- `mail_outbox`: `template_params` (JSON) and `sealed_token` (the token encrypted with a key kept
  outside the database, authsvc.mail.sealing) replace `body_text` and `body_html`, which held the
  rendered mail, invite link in the clear, until delivery.

Rows written before this revision cannot be sealed here: the key is not the database's to know,
and their links may also sit in SQLite's WAL and free pages, and in every backup taken so far.
So every invitation still pending is revoked, which makes each of those copies useless, and the
mail still waiting for them is not sent (FAILED, saying why). The users stay INVITED: a resend
issues a new invitation, whose link is sealed. Sent rows lose nothing (their bodies were already
scrubbed at delivery).

Downgrading cannot render sealed mail either: rows still pending become FAILED likewise, and
their invitations must be resent.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

NOT_SENT = "not sent: queued before the sealed outbox (revision 0003); resend the invitation"
NOT_SENT_DOWNGRADE = "not sent: sealed mail cannot be rendered after a downgrade; resend it"


def _stamp() -> datetime:
    now = datetime.now(UTC)
    return now.replace(tzinfo=None) if op.get_bind().dialect.name == "sqlite" else now


def _fail_pending(reason: str) -> None:
    outbox = sa.table(
        "mail_outbox",
        sa.column("status", sa.String()),
        sa.column("last_error", sa.Text()),
        sa.column("leased_until", sa.DateTime(timezone=True)),
        sa.column("lease_owner", sa.String()),
    )
    op.execute(
        outbox.update()
        .where(outbox.c.status == "PENDING")
        .values(status="FAILED", last_error=reason, leased_until=None, lease_owner=None)
    )


def upgrade() -> None:
    invitations = sa.table(
        "invitations",
        sa.column("revoked_at", sa.DateTime(timezone=True)),
        sa.column("accepted_at", sa.DateTime(timezone=True)),
    )
    op.execute(
        invitations.update()
        .where(invitations.c.revoked_at.is_(None), invitations.c.accepted_at.is_(None))
        .values(revoked_at=_stamp())
    )
    _fail_pending(NOT_SENT)
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("template_params", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("sealed_token", sa.Text(), nullable=True))
        batch_op.drop_column("body_text")
        batch_op.drop_column("body_html")


def downgrade() -> None:
    _fail_pending(NOT_SENT_DOWNGRADE)
    with op.batch_alter_table("mail_outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("body_text", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("body_html", sa.Text(), nullable=True))
        batch_op.drop_column("sealed_token")
        batch_op.drop_column("template_params")
