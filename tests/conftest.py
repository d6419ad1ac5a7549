"""Fixtures chained settings -> engine -> app -> client, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from app.db.engine import create_db_engine
from app.db.migrate import upgrade_database
from tests import databases

BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(scope="session")
def postgres_server_url() -> Iterator[str | None]:
    """A PostgreSQL server URL for the session, migrated once; None when none can be had."""
    url = os.environ.get(databases.POSTGRES_URL_ENV)
    if url:
        databases.wait_for(url)
        upgrade_database(url)
        yield url
        return
    with databases.throwaway_postgres() as started:
        if started:
            databases.wait_for(started)
            upgrade_database(started)
        yield started


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return databases.migrated_sqlite_template(tmp_path_factory.mktemp("sqlite-template"))


@pytest.fixture(params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
) -> str:
    """A migrated, empty database of each backend; PostgreSQL tables are emptied per test."""
    if request.param == "sqlite":
        path = tmp_path / "authsvc.db"
        shutil.copy(sqlite_template, path)
        return f"sqlite:///{path}"
    url = databases.require_postgres(request.getfixturevalue("postgres_server_url"))
    databases.reset_postgres(url)
    return url


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_db_engine(database_url, timeout_seconds=10)
    yield engine
    engine.dispose()
