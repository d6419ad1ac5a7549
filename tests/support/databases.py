"""Real databases for the tests: a migrated SQLite file per test, and a real PostgreSQL server.

PostgreSQL comes from `AUTHSVC_TEST_POSTGRES_URL` (CI starts a server and sets it), or else from a
throwaway cluster started with the machine's `initdb`/`pg_ctl`. Without either, PostgreSQL tests
are skipped with a message, except under `CI=true`, where a missing server is a failure.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from authsvc.db.migrate import upgrade_database
from authsvc.db.models import Base

POSTGRES_URL_ENV = "AUTHSVC_TEST_POSTGRES_URL"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pg_bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return candidates[-1] if candidates else None


@contextmanager
def throwaway_postgres() -> Iterator[str | None]:
    """Start a private PostgreSQL cluster on a loopback port; yields its URL (None if impossible)."""
    initdb, pg_ctl = _pg_bin("initdb"), _pg_bin("pg_ctl")
    if not (initdb and pg_ctl):
        yield None
        return
    prefix: list[str] = []
    if os.geteuid() == 0:  # initdb refuses to run as root
        runuser = shutil.which("runuser")
        if not runuser or subprocess.run(["id", "postgres"], capture_output=True).returncode:
            yield None
            return
        prefix = [runuser, "-u", "postgres", "--"]
    workdir = Path(tempfile.mkdtemp(prefix="authsvc-pg-"))
    os.chmod(workdir, 0o777)
    data, port = workdir / "data", _free_port()
    try:
        subprocess.run(
            [*prefix, initdb, "-D", str(data), "-U", "authsvc", "--auth=trust", "-E", "UTF8"],
            check=True,
            capture_output=True,
        )
        options = f"-c listen_addresses=127.0.0.1 -p {port} -k {workdir} -c fsync=off"
        subprocess.run(
            [
                *prefix,
                pg_ctl,
                "-D",
                str(data),
                "-o",
                options,
                "-w",
                "-l",
                str(workdir / "log"),
                "start",
            ],
            check=True,
            capture_output=True,
        )
    except (subprocess.CalledProcessError, OSError):
        shutil.rmtree(workdir, ignore_errors=True)
        yield None
        return
    try:
        yield f"postgresql+psycopg://authsvc@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*prefix, pg_ctl, "-D", str(data), "-m", "immediate", "stop"], capture_output=True
        )
        shutil.rmtree(workdir, ignore_errors=True)


def require_postgres(url: str | None) -> str:
    if url:
        return url
    message = f"no PostgreSQL server: set {POSTGRES_URL_ENV} or install PostgreSQL (initdb, pg_ctl)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def wait_for(url: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                conn.execute(text("SELECT 1"))
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
        finally:
            engine.dispose()


def reset_postgres(url: str) -> None:
    """Empty every table (fast) while keeping the migrated schema."""
    engine = create_engine(url)
    try:
        names = ", ".join(t.name for t in reversed(Base.metadata.sorted_tables))
        with engine.begin() as conn:
            conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    finally:
        engine.dispose()


def migrated_sqlite_template(directory: Path) -> Path:
    path = directory / "template.db"
    upgrade_database(f"sqlite:///{path}")
    return path
