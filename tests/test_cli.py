"""The `authsvc` command line as a newcomer uses it."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import uuid
from pathlib import Path

import jwt
import pytest

from authsvc.cli import main


def test_demo__prints_one_json_object_with_working_tokens(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--data-dir", str(tmp_path), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    for key in (
        "base_url",
        "customer_id",
        "other_customer_id",
        "invited_user_id",
        "active_user_id",
        "admin_token",
        "member_token",
        "other_admin_token",
        "issuer",
        "audience",
        "public_key_pem",
    ):
        assert info[key], key
    claims = jwt.decode(
        info["admin_token"],
        info["public_key_pem"],
        algorithms=["RS256"],
        issuer=info["issuer"],
        audience=info["audience"],
    )
    assert claims["customer_id"] == info["customer_id"]
    assert claims["exp"] - claims["iat"] >= 3600
    assert (tmp_path / "dev-signing-key.pem").stat().st_mode & 0o077 == 0


def test_token__mints_for_the_requested_customer_and_permissions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    main(["demo", "--data-dir", str(tmp_path), "--json"])
    info = json.loads(capsys.readouterr().out)
    assert (
        main(
            [
                "token",
                "--data-dir",
                str(tmp_path),
                "--customer",
                info["customer_id"],
                "--permission",
                "users:resend-invite",
                "--ttl",
                "120",
            ]
        )
        == 0
    )
    token = capsys.readouterr().out.strip()
    claims = jwt.decode(token, info["public_key_pem"], algorithms=["RS256"], audience="authsvc")
    assert claims["permissions"] == ["users:resend-invite"]
    assert claims["exp"] - claims["iat"] == 120


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("AUTHSVC_RESEND_LIMIT", "many", "AUTHSVC_RESEND_LIMIT"),
        ("AUTHSVC_NO_SUCH_SETTING", "1", "AUTHSVC_NO_SUCH_SETTING"),
        ("AUTHSVC_JWT_ALGORITHMS", "none", "AUTHSVC_JWT_ALGORITHMS"),
        ("AUTHSVC_ENVIRONMENT", "production", "AUTHSVC_JWKS_URL"),
    ],
    ids=["not-an-int", "unknown", "bad-algorithm", "production-needs-keys"],
)
def test_config_error__exits_2_naming_the_variable_without_traceback(
    tmp_path: Path, variable: str, value: str, named: str
) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "authsvc.cli", "db", "upgrade", "--data-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", variable: value},
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert named in result.stderr
    assert "Traceback" not in result.stderr


def _run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "authsvc.cli", *args],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", **(env or {})},
        timeout=60,
        check=False,
    )


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


UNREACHABLE_POSTGRES = "postgresql+psycopg://authsvc:pw-SECRET@127.0.0.1:{port}/authsvc"


@pytest.mark.parametrize(
    ("command", "env", "named"),
    [
        (["serve"], {"AUTHSVC_DATABASE_URL": "garbage"}, "AUTHSVC_DATABASE_URL"),
        (["worker"], {"AUTHSVC_DATABASE_URL": "garbage"}, "AUTHSVC_DATABASE_URL"),
        (["db", "upgrade"], {"AUTHSVC_DATABASE_URL": "garbage"}, "AUTHSVC_DATABASE_URL"),
        (["serve"], {"AUTHSVC_DATABASE_URL": "mysql://u:pw-SECRET@h/db"}, "AUTHSVC_DATABASE_URL"),
        (["serve"], {"AUTHSVC_DATABASE_URL": UNREACHABLE_POSTGRES}, "AUTHSVC_DATABASE_URL"),
        (["db", "upgrade"], {"AUTHSVC_DATABASE_URL": UNREACHABLE_POSTGRES}, "AUTHSVC_DATABASE_URL"),
        (["serve"], {"AUTHSVC_SMTP_URL": "http://x"}, "AUTHSVC_SMTP_URL"),
        (["worker"], {"AUTHSVC_SMTP_URL": "http://u:pw-SECRET@x"}, "AUTHSVC_SMTP_URL"),
        (["serve"], {"AUTHSVC_HTTP_MAX_CONNECTIONS": "0"}, "AUTHSVC_HTTP_MAX_CONNECTIONS"),
        (["serve"], {"AUTHSVC_HTTP_HEADER_TIMEOUT_SECONDS": "-1"}, "AUTHSVC_HTTP_HEADER_TIMEOUT"),
        (["serve", "--port", "99999"], {}, "--port"),
        (["serve", "--port", "http"], {}, "--port"),
        (["serve", "--workers", "2"], {}, "--workers 2: several worker processes need PostgreSQL"),
        (["serve", "--workers", "0"], {}, "--workers"),
        (["token", "--customer", str(uuid.uuid4()), "--ttl", "0"], {}, "--ttl"),
        (["token", "--customer", str(uuid.uuid4()), "--ttl", "9" * 20], {}, "--ttl"),
    ],
    ids=[
        "serve-garbage-url",
        "worker-garbage-url",
        "upgrade-garbage-url",
        "serve-unsupported-database",
        "serve-unreachable-postgres",
        "upgrade-unreachable-postgres",
        "serve-http-smtp-url",
        "worker-http-smtp-url",
        "serve-no-connections",
        "serve-negative-header-timeout",
        "serve-port-out-of-range",
        "serve-port-not-a-number",
        "serve-workers-on-sqlite",
        "serve-no-workers",
        "token-ttl-zero",
        "token-ttl-huge",
    ],
)
def test_bad_configuration__one_line_naming_it__exit_2_before_anything_else(
    tmp_path: Path, command: list[str], env: dict[str, str], named: str
) -> None:
    data_dir = tmp_path / "data"
    env = {k: v.format(port=_closed_port()) for k, v in env.items()}
    result = _run_cli(*command, "--data-dir", str(data_dir), env=env)
    assert result.returncode == 2, result.stderr
    [line] = result.stderr.strip().splitlines()
    assert named in line
    assert "SECRET" not in line  # a URL's password is never echoed
    assert result.stdout == ""  # no banner, so no dev token
    assert not (data_dir / "authsvc.db").exists()


def test_serve__port_in_use__one_line_exit_2_and_no_banner(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run_cli("serve", "--data-dir", str(tmp_path), "--port", str(port))
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert f"cannot listen on 127.0.0.1:{port}" in line
    assert result.stdout == ""


@pytest.mark.parametrize(
    "command",
    [["serve"], ["worker"], ["db", "upgrade"]],
    ids=["serve", "worker", "db-upgrade"],
)
def test_missing_contract__one_line_exit_2_before_the_database(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    command: list[str],
) -> None:
    missing = tmp_path / "gone" / "auth-service.yaml"
    monkeypatch.setattr("authsvc.cli.default_contract_path", lambda name="": missing)
    data_dir = tmp_path / "data"
    assert main([*command, "--data-dir", str(data_dir)]) == 2
    captured = capsys.readouterr()
    [line] = captured.err.strip().splitlines()
    assert line.startswith(f"authsvc: contract error: {missing}")
    assert captured.out == ""
    assert not data_dir.exists()


def test_invalid_contract__names_the_pointer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "auth-service.yaml"
    broken.write_text("openapi: 3.1.0\ninfo: {title: t}\npaths: {}\n")  # info.version missing
    monkeypatch.setattr("authsvc.cli.default_contract_path", lambda name="": broken)
    assert main(["db", "upgrade", "--data-dir", str(tmp_path / "data")]) == 2
    [line] = capsys.readouterr().err.strip().splitlines()
    assert line.startswith(f"authsvc: contract error: {broken}: ")
    assert "version" in line


def test_config_errors__every_one_at_once__one_line_each__exit_2(tmp_path: Path) -> None:
    result = _run_cli(
        "db",
        "upgrade",
        "--data-dir",
        str(tmp_path / "data"),
        env={
            "AUTHSVC_ENVIRONMENT": "production",
            "AUTHSVC_RESEND_LIMIT": "many",
            "AUTHSVC_NO_SUCH_SETTING": "1",
            "AUTHSVC_SMTP_URL": "http://u:pw-SECRET@x",
        },
    )
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    named = [
        "AUTHSVC_NO_SUCH_SETTING",
        "AUTHSVC_RESEND_LIMIT",
        "AUTHSVC_SMTP_URL",
        "AUTHSVC_JWT_PRIVATE_KEY_FILE",
        "AUTHSVC_DATABASE_URL",
        "AUTHSVC_OUTBOX_SEALING_KEYS",
    ]
    assert len(lines) == len(named), lines
    for variable in named:
        assert sum(variable in line for line in lines) == 1, variable
    assert all(line.startswith("authsvc: configuration error: ") for line in lines)
    assert "SECRET" not in result.stderr
    assert not (tmp_path / "data").exists()


def test_db_upgrade__says_what_it_applied(tmp_path: Path) -> None:
    first = _run_cli("db", "upgrade", "--data-dir", str(tmp_path))
    again = _run_cli("db", "upgrade", "--data-dir", str(tmp_path))
    from authsvc.db.migrate import head_revision, pending_revisions

    shipped = pending_revisions(None)
    assert (first.returncode, again.returncode) == (0, 0)
    assert first.stdout.startswith(
        f"applied {len(shipped)} migration(s): 0001 (initial schema), 0002 ("
    )
    assert first.stdout.splitlines()[-1].endswith(f"at revision {head_revision()}, the latest")
    assert again.stdout.startswith(
        f"nothing to apply: the database is at revision {head_revision()}"
    )


def test_production__localhost_sender__warns_once_at_startup(tmp_path: Path) -> None:
    key = tmp_path / "key.pem"
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key.write_bytes(
        rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    production = {
        "AUTHSVC_ENVIRONMENT": "production",
        "AUTHSVC_DATABASE_URL": f"sqlite:///{tmp_path / 'authsvc.db'}",
        "AUTHSVC_SMTP_URL": "smtp://127.0.0.1:25",
        "AUTHSVC_JWT_PRIVATE_KEY_FILE": str(key),
        "AUTHSVC_OUTBOX_SEALING_KEYS": "x" * 43 + "=",
    }
    warned = _run_cli("db", "upgrade", "--data-dir", str(tmp_path), env=production)
    own_domain = _run_cli(
        "db",
        "upgrade",
        "--data-dir",
        str(tmp_path),
        env={**production, "AUTHSVC_MAIL_FROM": "Acme <no-reply@acme.example>"},
    )
    assert (warned.returncode, own_domain.returncode) == (0, 0)
    [warning] = [line for line in warned.stderr.splitlines() if "WARNING" in line]
    assert "AUTHSVC_MAIL_FROM" in warning
    assert "authsvc.localhost" in warning
    assert "AUTHSVC_MAIL_FROM" not in own_domain.stderr


def test_demo__base_url_may_be_the_api_url_it_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo", "--data-dir", str(tmp_path), "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)["base_url"]
    assert main(["demo", "--data-dir", str(tmp_path), "--json", "--base-url", printed + "/"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["base_url"] == printed == "http://127.0.0.1:8080/auth/api/v1"
    assert again["accept_url"].startswith(printed + "/invite/")
