"""Secrets at rest: what a copy of the database would give away.

The threat is a copy of the database files or a backup of them. `database_copies` reads every
artifact such a copy holds: SQLite's main file with its WAL (and -shm, -journal when present), or
a plain-text `pg_dump` of the PostgreSQL database. `find_secrets` lists each place where a secret
the test captured (a token taken from a delivered mail, a password it chose) or a credential's
shape (`CREDENTIAL_PATTERNS`) occurs. A test asserts the list is empty, and shows the scanner
finding the same secrets where they belong (the mail folder) so that an empty list means
something. Add a pattern here for each new kind of credential (reset links, refresh tokens).
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from tests.support.databases import pg_binary

# An accept link as the invite mail writes it: 32 random bytes, URL-safe base64 (43 characters).
INVITE_LINK = re.compile(rb"invite/[A-Za-z0-9_-]{43}")
CREDENTIAL_PATTERNS: Mapping[str, re.Pattern[bytes]] = {"invite link": INVITE_LINK}
SQLITE_FILES = ("", "-wal", "-shm", "-journal")


@dataclass(frozen=True)
class Finding:
    """One occurrence: in which copy, of what (a pattern's name or the secret's label), where."""

    artifact: str
    what: str
    offset: int


def database_copies(database_url: str) -> dict[str, bytes]:
    """Every file a copy of the database holds (SQLite), or its `pg_dump` (PostgreSQL)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        assert url.database, "an in-memory database leaves nothing to copy"
        copies = {}
        for suffix in SQLITE_FILES:
            path = Path(url.database + suffix)
            if path.exists():
                copies[path.name] = path.read_bytes()
        return copies
    return {"pg_dump": pg_dump(database_url)}


def pg_dump(database_url: str) -> bytes:
    """The database as `pg_dump` writes a backup of it (plain SQL, data included)."""
    binary = pg_binary("pg_dump")
    if binary is None:
        message = "no pg_dump binary (PostgreSQL client tools) to back the database up with"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    plain = make_url(database_url).set(drivername="postgresql")
    done = subprocess.run(
        [binary, "--no-owner", "--dbname", plain.render_as_string(hide_password=False)],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


def find_secrets(
    copies: Mapping[str, bytes],
    *,
    secrets: Mapping[str, str] | Iterable[str] = (),
    patterns: Mapping[str, re.Pattern[bytes]] = CREDENTIAL_PATTERNS,
) -> list[Finding]:
    """Every occurrence of a raw secret (its label, never its value, reported) or a pattern."""
    labelled = (
        dict(secrets)
        if isinstance(secrets, Mapping)
        else {f"secret #{n}": value for n, value in enumerate(secrets, 1)}
    )
    findings: list[Finding] = []
    for artifact, data in copies.items():
        for label, value in labelled.items():
            needle = value.encode()
            start = data.find(needle)
            while start != -1:
                findings.append(Finding(artifact, label, start))
                start = data.find(needle, start + 1)
        for name, pattern in patterns.items():
            findings += [Finding(artifact, name, m.start()) for m in pattern.finditer(data)]
    return findings
