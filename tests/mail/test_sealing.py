"""Sealed tokens: the key file, the key list and its rotation, and what a wrong key does."""

from __future__ import annotations

import logging
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import Engine

from authsvc.config import load_settings
from authsvc.db.models import OutboxStatus
from authsvc.errors import ConfigError
from authsvc.mail.sealing import (
    SEALING_KEY_FILENAME,
    OutboxSealer,
    UnsealError,
    load_or_create_key_file,
    load_outbox_sealer,
)
from authsvc.mail.transport import build_transport, eml_filename
from authsvc.mail.worker import DeliveryReport, OutboxWorker
from tests.support.mail import enqueue_invites, make_settings, outbox_rows

REPO = Path(__file__).resolve().parents[2]


def _key() -> str:
    return Fernet.generate_key().decode()


def test_key_file__generated_owner_only_then_reused(tmp_path: Path) -> None:
    first = load_outbox_sealer(make_settings(tmp_path / "data"))
    path = tmp_path / "data" / SEALING_KEY_FILENAME

    again = load_outbox_sealer(make_settings(tmp_path / "data"))

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert again.open(first.seal("tok")) == "tok"  # the same key: a restart delivers the queue
    assert load_or_create_key_file(tmp_path / "data") == path.read_text().strip()


def test_key_file__not_a_key__config_error_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / SEALING_KEY_FILENAME
    path.write_text("not a key\n")

    with pytest.raises(ConfigError, match=f"{SEALING_KEY_FILENAME} is not a Fernet key"):
        load_outbox_sealer(make_settings(tmp_path))

    assert path.read_text() == "not a key\n"  # queued mail may need it: never replaced


def test_key_file__readable_by_others__warned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    load_outbox_sealer(make_settings(tmp_path))
    (tmp_path / SEALING_KEY_FILENAME).chmod(0o644)

    with caplog.at_level(logging.WARNING, logger="authsvc.mail.sealing"):
        load_outbox_sealer(make_settings(tmp_path))

    assert "readable by other users" in caplog.text


def test_key_list__first_seals_every_one_opens() -> None:
    old, new = _key(), _key()
    sealed_before = OutboxSealer.from_keys([old]).seal("tok-before")

    rotated = OutboxSealer.from_keys([new, old])
    sealed_after = rotated.seal("tok-after")

    assert rotated.open(sealed_before) == "tok-before"
    assert OutboxSealer.from_keys([new]).open(sealed_after) == "tok-after"
    with pytest.raises(UnsealError, match="AUTHSVC_OUTBOX_SEALING_KEYS"):
        OutboxSealer.from_keys([old]).open(sealed_after)


def test_sealed_row__rotated_key_list__still_delivered(engine: Engine, tmp_path: Path) -> None:
    old, new = _key(), _key()
    queued_under = make_settings(tmp_path, outbox_sealing_keys=old)
    [message_id] = enqueue_invites(engine, queued_under, 1)
    rotated = make_settings(tmp_path, outbox_sealing_keys=f"{new},{old}")

    report = OutboxWorker(engine, build_transport(rotated), rotated).deliver_due()

    assert report == DeliveryReport(claimed=1, sent=1)
    eml = (rotated.resolved_mail_dir / eml_filename(message_id)).read_text()
    assert "https://auth.example.test/invite/tok-0-secret" in eml


def test_sealed_row__key_missing_from_the_list__retried_then_delivered_once_it_is_back(
    engine: Engine, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    old, other = _key(), _key()
    [message_id] = enqueue_invites(engine, make_settings(tmp_path, outbox_sealing_keys=old), 1)
    wrong = make_settings(tmp_path, outbox_sealing_keys=other)

    with caplog.at_level(logging.WARNING, logger="authsvc.mail"):
        report = OutboxWorker(engine, build_transport(wrong), wrong).deliver_due()

    assert report == DeliveryReport(claimed=1, retrying=1)
    [row] = outbox_rows(engine)
    assert (row.status, row.attempts) == (OutboxStatus.PENDING, 1)
    assert row.sealed_token is not None  # kept: the right key delivers it
    assert row.last_error is not None
    assert "AUTHSVC_OUTBOX_SEALING_KEYS" in row.last_error
    assert "AUTHSVC_OUTBOX_SEALING_KEYS" in caplog.text
    assert not list(wrong.resolved_mail_dir.glob("*.eml"))

    fixed = make_settings(
        tmp_path, outbox_sealing_keys=f"{other},{old}", outbox_backoff_seconds=0.001
    )
    worker = OutboxWorker(engine, build_transport(fixed), fixed)
    deadline = time.monotonic() + 10
    while not worker.deliver_due().sent:  # due again once the first attempt's backoff is over
        assert time.monotonic() < deadline, "never delivered"
        time.sleep(0.01)
    assert (fixed.resolved_mail_dir / eml_filename(message_id)).is_file()


@pytest.mark.parametrize(
    "value",
    ["", " , ", "changeme", f"{Fernet.generate_key().decode()},not-a-key-SECRET", "A" * 43],
    ids=["empty", "only-commas", "placeholder", "second-bad", "wrong-length"],
)
def test_settings__malformed_key_list__names_the_variable_never_the_value(value: str) -> None:
    with pytest.raises(ConfigError, match="AUTHSVC_OUTBOX_SEALING_KEYS") as caught:
        load_settings(outbox_sealing_keys=value)
    assert "SECRET" not in str(caught.value)
    assert value.strip(" ,") == "" or value not in str(caught.value)


def _production_env(tmp_path: Path, **more: str) -> dict[str, str]:
    key = tmp_path / "signing.pem"
    key.write_bytes(
        ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return {
        "PATH": "/usr/bin:/bin",
        "AUTHSVC_ENVIRONMENT": "production",
        "AUTHSVC_DATA_DIR": str(tmp_path / "data"),
        "AUTHSVC_DATABASE_URL": "postgresql+psycopg://authsvc@127.0.0.1:1/authsvc",
        "AUTHSVC_SMTP_URL": "smtp://127.0.0.1:25",
        "AUTHSVC_JWT_PRIVATE_KEY_FILE": str(key),
        **more,
    }


@pytest.mark.parametrize("command", [["worker"], ["serve"], ["db", "upgrade"]])
@pytest.mark.parametrize(
    ("keys", "message"),
    [
        (None, "production needs AUTHSVC_OUTBOX_SEALING_KEYS"),
        ("SECRET-but-no-key", "AUTHSVC_OUTBOX_SEALING_KEYS: key 1 of 1 is not a Fernet key"),
    ],
    ids=["missing", "malformed"],
)
def test_production__sealing_keys_missing_or_malformed__one_line_exit_2(
    tmp_path: Path, command: list[str], keys: str | None, message: str
) -> None:
    more = {} if keys is None else {"AUTHSVC_OUTBOX_SEALING_KEYS": keys}
    result = subprocess.run(
        [sys.executable, "-m", "authsvc.cli", *command],
        capture_output=True,
        text=True,
        env=_production_env(tmp_path, **more),
        cwd=REPO,
        timeout=60,
        check=False,
    )

    assert result.returncode == 2
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "SECRET" not in result.stderr
    assert not (tmp_path / "data").exists()  # refused before touching anything
