"""Signing-key rotation, as docs/operations.md tells an operator to do it, against a live server.

Four configurations of `AUTHSVC_JWT_PRIVATE_KEY_FILES` over one database: [A], then [A, B] (B is
published before it signs), then [B, A] (B signs, A still verifies), then [B] (A retired). At each
step PyJWT's `PyJWKClient` reads the live `/.well-known/jwks.json`, and the tokens issued on the way
(by accepting real invitations) are used as bearers.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from authsvc.config import Settings, load_settings
from authsvc.db.engine import create_db_engine, write_engine
from authsvc.db.runner import run_in_transaction
from authsvc.errors import ConfigError
from authsvc.factory import create_app
from authsvc.mail.sealing import load_outbox_sealer
from authsvc.mail.transport import build_transport
from authsvc.mail.worker import OutboxWorker
from authsvc.services.create_customer import create_customer
from tests.support.live_server import live_server

API = "/auth/api/v1"
PASSWORD = "Corr3ct-Horse-Battery"
LINK = re.compile(r"/invite/([A-Za-z0-9_\-]{43})")


def _write_key(path: Path, key: Any) -> Path:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return path


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    a = _write_key(
        tmp_path / "a.pem", rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    b = _write_key(tmp_path / "b.pem", ec.generate_private_key(ec.SECP256R1()))
    return a, b


def _settings(tmp_path: Path, database_url: str, files: tuple[Path, ...]) -> Settings:
    return load_settings(
        environment="test",
        data_dir=tmp_path / "data",
        database_url=database_url,
        jwt_private_key_files=files,
        app_url="https://app.example.test",
    )


@contextmanager
def served(settings: Settings) -> Iterator[str]:
    with live_server(create_app(settings)) as base:
        yield base


def _first_admin(settings: Settings, name: str, email: str) -> str:
    """Bootstrap a customer, deliver its admin's invitation to the mail folder; the invite token."""
    engine = create_db_engine(settings.resolved_database_url)
    try:
        run_in_transaction(
            write_engine(engine),
            lambda c: create_customer(
                c,
                settings,
                sealer=load_outbox_sealer(settings),
                name=name,
                admin_email=email,
                first_name="Ro",
                last_name="Tate",
            ),
        )
        OutboxWorker(engine, build_transport(settings), settings).deliver_due()
    finally:
        engine.dispose()
    for eml in settings.resolved_mail_dir.glob("*.eml"):
        message = message_from_bytes(eml.read_bytes(), policy=policy.default)
        if message["To"] == email:
            body = message.get_body(("plain",))
            assert body is not None
            return LINK.findall(body.get_content())[0]
    raise AssertionError(f"no invite for {email}")


def _accept(base: str, token: str) -> str:
    response = httpx.post(f"{base}{API}/invite/{token}/accept", json={"password": PASSWORD})
    assert response.status_code == 200, response.text
    return str(response.json()["data"]["id_token"])


def _published(base: str) -> list[str]:
    return [key["kid"] for key in httpx.get(f"{base}/.well-known/jwks.json").json()["keys"]]


def _verifies(base: str, token: str, settings: Settings) -> bool:
    client = jwt.PyJWKClient(f"{base}/.well-known/jwks.json", cache_jwk_set=False)
    try:
        key = client.get_signing_key_from_jwt(token)
    except jwt.PyJWKClientError:
        return False
    jwt.decode(
        token,
        key.key,
        algorithms=["RS256", "ES256"],
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
    )
    return True


def _bearer_status(base: str, token: str) -> int:
    claims = jwt.decode(token, options={"verify_signature": False})
    return httpx.get(
        f"{base}{API}/customers/{claims['customer_id']}/users",
        headers={"Authorization": f"Bearer {token}"},
    ).status_code


def _kid(token: str) -> str:
    return str(jwt.get_unverified_header(token)["kid"])


def test_rotation__publish_then_sign_then_retire(
    tmp_path: Path, database_url: str, keys: tuple[Path, Path]
) -> None:
    a, b = keys
    only_a = _settings(tmp_path, database_url, (a,))
    with served(only_a) as base:
        token_a = _accept(base, _first_admin(only_a, "Alpha", "admin@alpha.test"))
        [kid_a] = _published(base)
        assert _kid(token_a) == kid_a
        assert _verifies(base, token_a, only_a)

    a_then_b = _settings(tmp_path, database_url, (a, b))
    with served(a_then_b) as base:
        published = _published(base)
        assert published[0] == kid_a
        assert len(published) == 2
        kid_b = published[1]
        assert _bearer_status(base, token_a) == 200

    b_then_a = _settings(tmp_path, database_url, (b, a))
    with served(b_then_a) as base:
        token_b = _accept(base, _first_admin(b_then_a, "Beta", "admin@beta.test"))
        assert _kid(token_b) == kid_b  # B signs now
        assert jwt.get_unverified_header(token_b)["alg"] == "ES256"
        assert _published(base) == [kid_b, kid_a]
        assert _verifies(base, token_a, b_then_a)
        assert _verifies(base, token_b, b_then_a)
        assert (_bearer_status(base, token_a), _bearer_status(base, token_b)) == (200, 200)

    only_b = _settings(tmp_path, database_url, (b,))
    with served(only_b) as base:
        assert _published(base) == [kid_b]
        assert not _verifies(base, token_a, only_b)
        assert (_bearer_status(base, token_a), _bearer_status(base, token_b)) == (401, 200)


def test_rotation__every_unreadable_key_named_at_once(
    tmp_path: Path, keys: tuple[Path, Path]
) -> None:
    a, _b = keys
    public = tmp_path / "public.pem"
    public.write_text("-----BEGIN PUBLIC KEY-----\nnot really\n-----END PUBLIC KEY-----\n")
    settings = load_settings(
        environment="test",
        data_dir=tmp_path,
        jwt_private_key_files=(a, tmp_path / "missing.pem", public, a),
    )
    with pytest.raises(ConfigError) as caught:
        create_app(settings)
    problems = caught.value.problems
    assert len(problems) == 3, problems
    assert all(p.startswith("AUTHSVC_JWT_PRIVATE_KEY_FILES: ") for p in problems)
    assert "missing.pem cannot be read" in problems[0]
    assert "public.pem is not an unencrypted PEM private key" in problems[1]
    assert "listed twice" in problems[2]
