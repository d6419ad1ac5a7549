"""The `authsvc` command line as a newcomer uses it."""

from __future__ import annotations

import json
import subprocess
import sys
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
