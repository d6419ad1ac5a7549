"""Fixtures chained settings -> engine -> app -> client, on SQLite and on a real PostgreSQL."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from connexion import AsyncApp
from sqlalchemy import Engine
from starlette.testclient import TestClient

from authsvc.cli import demo_info
from authsvc.config import Settings, load_settings
from authsvc.db.engine import create_db_engine, make_session_factory
from authsvc.db.migrate import upgrade_database
from authsvc.demo import seed_demo_data
from authsvc.factory import build_services, create_app
from authsvc.services.container import Services
from tests.support import databases
from tests.support.mail import SmtpServer, free_port

# pytester (the mock's pytest-plugin tests) must be enabled from the top-level conftest.
pytest_plugins = ["pytester"]

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


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """Test settings: a private data dir, the backend under test, a mail folder, no SMTP."""
    return load_settings(
        environment="test",
        data_dir=tmp_path / "data",
        database_url=database_url,
        app_url="https://app.example.test",
    )


@pytest.fixture
def services(settings: Settings) -> Iterator[Services]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    services = build_services(settings)
    yield services
    services.engine.dispose()


@pytest.fixture
def demo(settings: Settings, services: Services) -> dict[str, Any]:
    """Seeded demo rows plus dev tokens (as `authsvc demo --json` prints them)."""
    seed_demo_data(make_session_factory(services.engine, write=True))
    return demo_info(settings, "http://testserver")


@pytest.fixture
def app(settings: Settings, services: Services) -> AsyncApp:
    return create_app(settings, services=services)


@pytest.fixture
def smtp_server() -> Iterator[SmtpServer]:
    """A real SMTP server (aiosmtpd) on a free loopback port; stop()/start() simulate an outage."""
    server = SmtpServer(port=free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def client(app: AsyncApp) -> Iterator[TestClient]:
    with app.test_client() as client:
        yield client
