"""`authsvc admin create-customer` in production: the first admin, from the shell to a signed-in call.

Production settings throughout (a real private key, real SMTP on loopback, SQLite or PostgreSQL);
the invitation goes through the outbox and the admin accepts it through the API.
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from authsvc.cli import main
from authsvc.config import load_settings
from authsvc.db.engine import create_db_engine
from authsvc.db.models import (
    AuditEvent,
    Customer,
    Invitation,
    OutboxMessage,
    Subrole,
    User,
    UserStatus,
)
from authsvc.factory import create_app
from authsvc.mail.transport import build_transport
from authsvc.mail.worker import OutboxWorker
from tests.support.mail import SmtpServer

LINK = re.compile(r"/invite/([A-Za-z0-9_\-]{43})")
PASSWORD = "Corr3ct-Horse-Battery"
BASE = "/auth/api/v1"


@pytest.fixture
def private_key_file(tmp_path: Path) -> Path:
    path = tmp_path / "signing-key.pem"
    path.write_bytes(
        rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


@pytest.fixture
def production(
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    smtp_server: SmtpServer,
    private_key_file: Path,
) -> str:
    """A production environment for in-process `main()`; returns the database URL."""
    for name in ("AUTHSVC_DATABASE_URL", "AUTHSVC_ENVIRONMENT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AUTHSVC_ENVIRONMENT", "production")
    monkeypatch.setenv("AUTHSVC_DATABASE_URL", database_url)
    monkeypatch.setenv("AUTHSVC_SMTP_URL", smtp_server.url)
    monkeypatch.setenv("AUTHSVC_JWT_PRIVATE_KEY_FILE", str(private_key_file))
    monkeypatch.setenv("AUTHSVC_OUTBOX_SEALING_KEYS", Fernet.generate_key().decode())
    monkeypatch.setenv("AUTHSVC_MAIL_FROM", "Auth <no-reply@mail.example.test>")
    monkeypatch.setenv("AUTHSVC_APP_URL", "https://app.example.test")
    return database_url


def _admin(
    data_dir: Path, capsys: pytest.CaptureFixture[str], *extra: str, email: str = "root@acme.test"
) -> tuple[int, str, str]:
    code = main(
        [
            "admin",
            "create-customer",
            "--data-dir",
            str(data_dir),
            "--name",
            "Acme Corp",
            "--admin-email",
            email,
            "--first-name",
            "Rita",
            *extra,
        ]
    )
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _counts(engine: Engine) -> dict[str, int]:
    with Session(engine) as session:
        return {
            model.__name__: int(session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (Customer, Subrole, User, Invitation, OutboxMessage, AuditEvent)
        }


def _deliver(engine: Engine, smtp: SmtpServer) -> list[str]:
    """Run the outbox once through real SMTP; the invite tokens of the mails it delivered."""
    settings = load_settings()
    before = len(smtp.received)
    OutboxWorker(engine, build_transport(settings), settings).deliver_due()
    tokens = []
    for received in smtp.received[before:]:
        body = received.message.get_body(("plain",))
        assert body is not None
        tokens += LINK.findall(body.get_content())
    return tokens


@pytest.fixture
def engine(production: str) -> Any:
    engine = create_db_engine(production, timeout_seconds=10)
    yield engine
    engine.dispose()


def test_create_customer__first_admin_accepts_and_calls_the_api(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    engine: Engine,
    smtp_server: SmtpServer,
) -> None:
    code, out, err = _admin(tmp_path / "data", capsys, "--json")
    assert code == 0
    assert "Traceback" not in err
    result = json.loads(out)
    assert result["outcome"] == "created"
    assert result["admin_status"] == "INVITED"

    with Session(engine) as session:
        admin = session.get_one(User, uuid.UUID(result["admin_user_id"]))
        codes = set(
            session.scalars(
                select(Subrole.code).where(Subrole.customer_id == uuid.UUID(result["customer_id"]))
            )
        )
        subrole = session.get_one(Subrole, admin.subrole_id)
    assert admin.status is UserStatus.INVITED
    assert codes == {"admin", "cro", "risk_analyst"}
    assert subrole.code == "admin"

    [token] = _deliver(engine, smtp_server)
    assert token not in out + err  # the invite token exists only in the mail
    assert smtp_server.received[-1].rcpt_tos == ["root@acme.test"]

    app = create_app(load_settings(data_dir=tmp_path / "data"))
    with app.test_client() as client:
        accepted = client.post(f"{BASE}/invite/{token}/accept", json={"password": PASSWORD})
        assert accepted.status_code == 200, accepted.text
        id_token = accepted.json()["data"]["id_token"]
        users = client.get(
            f"{BASE}/customers/{result['customer_id']}/users",
            headers={"Authorization": f"Bearer {id_token}"},
        )
    assert users.status_code == 200
    assert [u["email"] for u in users.json()["data"]["records"]] == ["root@acme.test"]


def test_create_customer__again_changes_nothing_and_sends_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], engine: Engine, smtp_server: SmtpServer
) -> None:
    assert _admin(tmp_path, capsys)[0] == 0
    assert len(_deliver(engine, smtp_server)) == 1
    before = _counts(engine)

    code, out, err = _admin(tmp_path, capsys, email="ROOT@acme.test ")
    assert code == 0
    assert "Traceback" not in err
    assert "unchanged" in out
    assert "--resend" in out  # the admin has not accepted yet: say how to send a new invite
    assert _counts(engine) == before
    assert _deliver(engine, smtp_server) == []


def test_create_customer__resend_reinvites_until_accepted(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], engine: Engine, smtp_server: SmtpServer
) -> None:
    assert _admin(tmp_path, capsys)[0] == 0
    [first] = _deliver(engine, smtp_server)

    code, out, _err = _admin(tmp_path, capsys, "--resend")
    assert code == 0
    assert "re-invited" in out
    [second] = _deliver(engine, smtp_server)
    assert second != first

    app = create_app(load_settings(data_dir=tmp_path))
    with app.test_client() as client:
        stale = client.post(f"{BASE}/invite/{first}/accept", json={"password": PASSWORD})
        fresh = client.post(f"{BASE}/invite/{second}/accept", json={"password": PASSWORD})
    assert (stale.status_code, fresh.status_code) == (400, 200)

    before = _counts(engine)
    code, out, _err = _admin(tmp_path, capsys, "--resend")
    assert code == 0
    assert "unchanged" in out
    assert "ACTIVE" in out
    assert _counts(engine) == before
    assert _deliver(engine, smtp_server) == []


@pytest.mark.parametrize(
    ("name", "email", "named"),
    [
        ("Globex", "root@acme.test", "--admin-email"),  # the address is Acme's admin's
        ("Acme Corp", "other@acme.test", "--name"),  # Acme exists with another admin
    ],
    ids=["address-taken-by-another-customer", "name-taken-with-another-admin"],
)
def test_create_customer__conflict_is_one_line_exit_2_and_writes_nothing(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    engine: Engine,
    name: str,
    email: str,
    named: str,
) -> None:
    assert _admin(tmp_path, capsys)[0] == 0
    before = _counts(engine)
    code = main(
        [
            "admin",
            "create-customer",
            "--data-dir",
            str(tmp_path),
            "--name",
            name,
            "--admin-email",
            email,
        ]
    )
    captured = capsys.readouterr()
    assert code == 2
    [line] = captured.err.strip().splitlines()
    assert line.startswith("authsvc: configuration error: ")
    assert named in line
    assert captured.out == ""
    assert _counts(engine) == before


@pytest.mark.parametrize(
    "command",
    [
        ["demo", "--json"],
        ["token", "--customer", str(uuid.uuid4()), "--subject", str(uuid.uuid4())],
    ],
    ids=["demo", "token"],
)
def test_dev_commands__refuse_in_production_and_write_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], production: str, command: list[str]
) -> None:
    data_dir = tmp_path / "fresh"
    assert main([*command, "--data-dir", str(data_dir)]) == 2
    captured = capsys.readouterr()
    [line] = captured.err.strip().splitlines()
    assert "development only" in line
    assert captured.out == ""
    assert not data_dir.exists()  # no dev key, no SQLite file, no mail folder
