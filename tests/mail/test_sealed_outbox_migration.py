"""Migration 0004 (sealed outbox) on a database that 0002 filled: mail queued with its link in the clear is not
sent, every invitation still pending is revoked (its link may sit in any copy of the database),
the body columns are gone; and back down again. SQLite and PostgreSQL."""

from __future__ import annotations

import os
import uuid
from typing import Any

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from authsvc.db.migrate import alembic_config, upgrade_database
from authsvc.db.models import Base
from tests.support import databases

LINK = "https://app.example.test/invite/" + "T" * 43


def test_migration_0004__plaintext_mail_not_sent_pending_invitations_revoked(
    database_url: str,
) -> None:
    if database_url.startswith("postgresql"):
        # The shared server is migrated to head: start this one from an empty schema.
        engine = sa.create_engine(database_url)
        with engine.begin() as connection:
            connection.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
    else:
        os.remove(database_url.removeprefix("sqlite:///"))
    try:
        _check(database_url)
    finally:
        if database_url.startswith("postgresql"):
            upgrade_database(database_url)  # leave the shared server as the others expect it
            databases.reset_postgres(database_url)


def _check(url: str) -> None:
    upgrade_database(url, "0002")
    engine = sa.create_engine(url)
    native = url.startswith("postgresql")

    def key(value: uuid.UUID) -> object:
        return value if native else value.hex

    customer, user = uuid.uuid4(), uuid.uuid4()
    pending, accepted, revoked = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    with engine.begin() as connection:
        run = _runner(connection)
        run(
            "INSERT INTO customers (id, name, is_active, created_at)"
            " VALUES (:i, 'A', true, CURRENT_TIMESTAMP)",
            i=key(customer),
        )
        run(
            "INSERT INTO users (id, customer_id, email, email_normalized, first_name, last_name,"
            " status, is_platform_admin, is_email_verified, is_first_login, created_at, updated_at)"
            " VALUES (:i, :c, 'a@example.test', 'a@example.test', 'A', 'B', 'INVITED', false,"
            " false, true, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)",
            i=key(user),
            c=key(customer),
        )
        for invitation, accepted_at, revoked_at in (
            (pending, None, None),
            (accepted, "2030-01-01 00:00:00", None),
            (revoked, None, "2030-01-01 00:00:00"),
        ):
            run(
                "INSERT INTO invitations (id, user_id, customer_id, token_hash, created_by,"
                " created_at, expires_at, accepted_at, revoked_at) VALUES (:i, :u, :c, :h, 'x',"
                " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, :a, :r)",
                i=key(invitation),
                u=key(user),
                c=key(customer),
                h=uuid.uuid4().hex,
                a=accepted_at,
                r=revoked_at,
            )
        for status, body in (("PENDING", LINK), ("SENT", None)):
            run(
                "INSERT INTO mail_outbox (id, message_id, kind, recipient, subject, body_text,"
                " body_html, status, attempts, created_at, next_attempt_at, lease_owner)"
                " VALUES (:i, :m, 'invite', 'a@example.test', 'Invite', :b, :b, :s, 0,"
                " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'w1')",
                i=key(uuid.uuid4()),
                m=f"<{uuid.uuid4()}@x>",
                b=body,
                s=status,
            )

    upgrade_database(url)

    with engine.connect() as connection:
        rows = connection.execute(sa.text("SELECT id, revoked_at IS NOT NULL FROM invitations"))
        assert {row[0]: bool(row[1]) for row in rows} == {
            key(pending): True,  # its link may be in the old rows, the WAL or a backup
            key(accepted): False,
            key(revoked): True,
        }
        outbox = connection.execute(
            sa.text(
                "SELECT status, last_error, lease_owner, sealed_token FROM mail_outbox"
                " ORDER BY status"
            )
        ).all()
        assert [tuple(row) for row in outbox] == [
            ("FAILED", _NOT_SENT, None, None),
            ("SENT", None, "w1", None),
        ]
        columns = {c["name"] for c in sa.inspect(connection).get_columns("mail_outbox")}
        assert {"body_text", "body_html"}.isdisjoint(columns)
        assert {"template_params", "sealed_token"} <= columns
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    engine.dispose()
    command.downgrade(alembic_config(url), "0002")
    upgrade_database(url)


_NOT_SENT = "not sent: queued before the sealed outbox (revision 0004); resend the invitation"


def _runner(connection: sa.Connection) -> Any:
    def run(statement: str, **values: object) -> None:
        connection.execute(sa.text(statement), values)

    return run
