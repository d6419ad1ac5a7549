"""Migration 0002 on a database that 0001 filled: subroles per customer, users mapped onto them,
addresses normalised and unique per customer; and back down again. SQLite and PostgreSQL."""

from __future__ import annotations

import os
import uuid

import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from authsvc.db.migrate import alembic_config, upgrade_database
from authsvc.db.models import Base
from tests.support import databases


def test_migration_0002__maps_0001_data_and_matches_the_models(database_url: str) -> None:
    if database_url.startswith("postgresql"):
        # The shared server is migrated to head: start this one from an empty schema.
        engine = sa.create_engine(database_url)
        with engine.begin() as connection:
            connection.execute(sa.text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
        engine.dispose()
    else:
        path = database_url.removeprefix("sqlite:///")
        os.remove(path)
    try:
        _check(database_url)
    finally:
        if database_url.startswith("postgresql"):
            upgrade_database(database_url)  # leave the shared server as the others expect it
            databases.reset_postgres(database_url)


def _check(url: str) -> None:
    upgrade_database(url, "0001")
    engine = sa.create_engine(url)
    native = url.startswith("postgresql")
    customer = uuid.uuid4()

    def key(value: uuid.UUID) -> object:
        return value if native else value.hex

    rows = [
        ("admin", " Ada@Example.COM "),
        ("platform-admin", "pat@example.com"),
        ("member", "m@example.com"),
    ]
    with engine.begin() as connection:
        connection.execute(
            sa.text(
                "INSERT INTO customers (id, name, created_at) VALUES (:i, 'A', CURRENT_TIMESTAMP)"
            ),
            {"i": key(customer)},
        )
        for subrole, email in rows:
            connection.execute(
                sa.text(
                    "INSERT INTO users (id, customer_id, email, first_name, last_name, subrole,"
                    " status, created_at, updated_at) VALUES (:i, :c, :e, 'a', 'b', :s, 'ACTIVE',"
                    " CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
                ),
                {"i": key(uuid.uuid4()), "c": key(customer), "e": email, "s": subrole},
            )
    upgrade_database(url)
    with engine.connect() as connection:
        users = connection.execute(
            sa.text(
                "SELECT u.email_normalized, s.code, u.is_platform_admin FROM users u"
                " LEFT JOIN subroles s ON s.id = u.subrole_id ORDER BY u.email_normalized"
            )
        ).all()
        assert [tuple(u) for u in users] == [
            ("ada@example.com", "admin", False),
            ("m@example.com", None, False),  # no subrole of that name: no permissions
            ("pat@example.com", "admin", True),
        ]
        codes = connection.execute(sa.text("SELECT code FROM subroles ORDER BY code")).scalars()
        assert list(codes) == ["admin", "cro", "risk_analyst"]
        assert compare_metadata(MigrationContext.configure(connection), Base.metadata) == []
    engine.dispose()
    command.downgrade(alembic_config(url), "0001")
    upgrade_database(url)
