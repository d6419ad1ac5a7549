"""Apply the Alembic migrations shipped in app/db/migrations."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from authsvc.db.engine import restrict_sqlite_files

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation would choke on '%' in passwords.
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade_database(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision` (idempotent)."""
    restrict_sqlite_files(url)  # often the first to create the file
    command.upgrade(alembic_config(url), revision)
