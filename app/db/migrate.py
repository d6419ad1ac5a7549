"""Apply the Alembic migrations shipped in app/db/migrations, and say where a database stands."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, create_engine

from authsvc.db.engine import restrict_sqlite_files

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


@dataclass(frozen=True, slots=True)
class Revision:
    """One migration: its id and the first line of its docstring."""

    id: str
    title: str

    def __str__(self) -> str:
        return f"{self.id} ({self.title})" if self.title else self.id


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation would choke on '%' in passwords.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _scripts() -> ScriptDirectory:
    return ScriptDirectory(str(MIGRATIONS_DIR))


def head_revision() -> str:
    """The revision the shipped code expects (the chain is linear)."""
    head = _scripts().get_current_head()
    assert head is not None, "no migrations shipped"
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision a database is at; None for an empty one (no `alembic_version` row)."""
    return MigrationContext.configure(connection).get_current_revision()


def pending_revisions(current: str | None) -> list[Revision]:
    """The migrations from `current` (exclusive) to the head, in the order they apply."""
    scripts = _scripts()
    chain = list(scripts.iterate_revisions(head_revision(), current))
    return [Revision(s.revision, (s.doc or "").strip().splitlines()[0]) for s in reversed(chain)]


def upgrade_database(url: str, revision: str = "head") -> list[Revision]:
    """Bring the database at `url` to `revision` (idempotent); the migrations that were applied."""
    restrict_sqlite_files(url)  # often the first to create the file
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            before = current_revision(connection)
    finally:
        engine.dispose()
    pending = pending_revisions(before) if revision == "head" else []
    command.upgrade(alembic_config(url), revision)
    return pending
