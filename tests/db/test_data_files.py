"""The embedded default's data files are the owner's alone: the data directory 0700, the SQLite
database with its -wal and -shm 0600, whether `authsvc` creates them or finds them open."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text

from authsvc.db.engine import create_db_engine

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """The umask most systems start processes with: files 0644, directories 0755 by default."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def _db_upgrade(data_dir: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSVC_")}
    subprocess.run(
        [sys.executable, "-m", "authsvc.cli", "db", "upgrade", "--data-dir", str(data_dir)],
        cwd=REPO,
        env=env,
        capture_output=True,
        timeout=120,
        check=True,
    )


@contextmanager
def _written_through_the_app_engine(database: Path) -> Iterator[None]:
    """A write through the service's engine, held open: the last close removes the WAL."""
    engine = create_db_engine(f"sqlite:///{database}")
    try:
        with engine.begin() as connection:  # opens the WAL and its index
            connection.execute(text("CREATE TABLE IF NOT EXISTS probe (x INTEGER)"))
            connection.execute(text("INSERT INTO probe VALUES (1)"))
        with engine.connect():
            assert database.with_name(database.name + "-wal").exists()
            yield
    finally:
        engine.dispose()


def test_fresh_data_dir__directory_and_database_files_owner_only(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"

    _db_upgrade(data_dir)
    with _written_through_the_app_engine(data_dir / "authsvc.db"):
        assert _mode(data_dir) == 0o700
        for name in ("authsvc.db", "authsvc.db-wal", "authsvc.db-shm"):
            assert _mode(data_dir / name) == 0o600, name


def test_existing_open_files__narrowed_at_start(tmp_path: Path, sqlite_template: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    database = data_dir / "authsvc.db"
    shutil.copy(sqlite_template, database)
    for path in (database, data_dir / "authsvc.db-wal", data_dir / "authsvc.db-shm"):
        path.touch()
        path.chmod(0o644)  # as an older version left them
    data_dir.chmod(0o755)

    _db_upgrade(data_dir)
    with _written_through_the_app_engine(database):
        assert _mode(data_dir) == 0o700
        for name in ("authsvc.db", "authsvc.db-wal", "authsvc.db-shm"):
            assert _mode(data_dir / name) == 0o600, name
