"""The service's signing key, its JWKS, and the tokens it issues; the verifier accepts them."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from authsvc.config import load_settings
from authsvc.errors import ConfigError, Unauthorized
from authsvc.security.issuer import TokenIssuer, hash_refresh_token
from authsvc.security.jwk import jwk_thumbprint
from authsvc.security.keys import load_or_create_dev_keys
from authsvc.security.signing import SigningKeyRing, load_signing_key, signing_key_from_pem
from authsvc.security.tokens import build_token_verifier

USER = uuid.UUID("00000000-0000-4000-8000-000000000001")
CUSTOMER = uuid.UUID("00000000-0000-4000-8000-0000000000c1")


def _pem(key: Any) -> bytes:
    return bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def _settings(tmp_path: Path, **overrides: Any) -> Any:
    return load_settings(environment="test", data_dir=tmp_path / "data", **overrides)


def test_issuer__id_token_claims_and_header(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    key = load_signing_key(settings)
    issuer = TokenIssuer(key, issuer="iss", audience="aud", clock=lambda: 1_700_000_000.0)
    tokens = issuer.issue(user_id=USER, customer_id=CUSTOMER, permissions=["b", "a", "a"])
    header = jwt.get_unverified_header(tokens.id_token)
    assert header == {"alg": "RS256", "kid": key.kid, "typ": "JWT"}
    assert key.kid == load_or_create_dev_keys(settings.data_dir).kid  # the dev key by default
    claims = jwt.decode(
        tokens.id_token,
        key.private_key.public_key(),
        algorithms=["RS256"],
        audience="aud",
        options={"verify_exp": False},
    )
    assert claims.pop("jti")
    assert claims == {
        "iss": "iss",
        "aud": "aud",
        "sub": str(USER),
        "customer_id": str(CUSTOMER),
        "permissions": ["a", "b"],
        "iat": 1_700_000_000,
        "exp": 1_700_000_000 + 900,
        "token_use": "id",
    }
    access = jwt.decode(tokens.access_token, options={"verify_signature": False})
    assert access["token_use"] == "access"
    assert access["jti"] != jwt.decode(tokens.id_token, options={"verify_signature": False})["jti"]


def test_issuer__refresh_tokens_are_opaque_random_and_stored_hashed(tmp_path: Path) -> None:
    issuer = TokenIssuer(load_signing_key(_settings(tmp_path)), issuer="i", audience="a")
    first = issuer.issue(user_id=USER, customer_id=CUSTOMER, permissions=[])
    second = issuer.issue(user_id=USER, customer_id=CUSTOMER, permissions=[])
    assert first.refresh_token != second.refresh_token
    assert len(first.refresh_token) >= 43
    assert "." not in first.refresh_token
    assert first.refresh_token_hash == hash_refresh_token(first.refresh_token)
    assert first.refresh_token not in repr(first)


def test_issuer__the_services_own_verifier_accepts_its_tokens(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    issuer = TokenIssuer(
        load_signing_key(settings), issuer=settings.jwt_issuer, audience=settings.jwt_audience
    )
    tokens = issuer.issue(user_id=USER, customer_id=CUSTOMER, permissions=["users:read"])
    verifier = build_token_verifier(settings)
    for token in (tokens.id_token, tokens.access_token):
        principal = verifier.verify(token)
        assert (principal.subject, principal.customer_id) == (str(USER), CUSTOMER)


@pytest.mark.parametrize("kind", ["rsa", "p256"])
def test_signing_key__from_a_private_key_file_signs_and_verifies(tmp_path: Path, kind: str) -> None:
    private = (
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
        if kind == "rsa"
        else ec.generate_private_key(ec.SECP256R1())
    )
    path = tmp_path / "signing.pem"
    path.write_bytes(_pem(private))
    settings = _settings(tmp_path, jwt_private_key_file=path)
    key = load_signing_key(settings)
    assert key.algorithm == ("RS256" if kind == "rsa" else "ES256")
    assert key.kid == jwk_thumbprint(private.public_key())
    (published,) = SigningKeyRing((key,)).jwks()["keys"]
    assert (published["kid"], published["alg"], published["use"]) == (key.kid, key.algorithm, "sig")
    assert "d" not in published  # never the private part
    tokens = TokenIssuer(key, issuer=settings.jwt_issuer, audience=settings.jwt_audience).issue(
        user_id=USER, customer_id=CUSTOMER, permissions=[]
    )
    assert build_token_verifier(settings).verify(tokens.id_token).subject == str(USER)
    assert not (settings.data_dir / "dev-signing-key.pem").exists()  # no dev key made


def test_signing_key__own_key_and_external_pem_issuer_both_verify(tmp_path: Path) -> None:
    own = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "own.pem").write_bytes(_pem(own))
    (tmp_path / "other.pub").write_bytes(
        other.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    settings = _settings(
        tmp_path,
        jwt_private_key_file=tmp_path / "own.pem",
        jwt_public_key_file=tmp_path / "other.pub",
    )
    verifier = build_token_verifier(settings)
    ours = TokenIssuer(
        load_signing_key(settings), issuer=settings.jwt_issuer, audience=settings.jwt_audience
    ).issue(user_id=USER, customer_id=CUSTOMER, permissions=[])
    assert verifier.verify(ours.id_token).subject == str(USER)
    theirs = jwt.encode(
        {
            "sub": str(USER),
            "iss": settings.jwt_issuer,
            "aud": settings.jwt_audience,
            "iat": 1,
            "exp": 4_000_000_000,
        },
        other,
        algorithm="RS256",
    )
    assert verifier.verify(theirs).subject == str(USER)
    stranger = jwt.encode(
        {
            "sub": str(USER),
            "iss": settings.jwt_issuer,
            "aud": settings.jwt_audience,
            "iat": 1,
            "exp": 4_000_000_000,
        },
        rsa.generate_private_key(public_exponent=65537, key_size=2048),
        algorithm="RS256",
        headers={"kid": load_signing_key(settings).kid},
    )
    with pytest.raises(Unauthorized):
        verifier.verify(stranger)


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "cannot be read"),
        (b"not a key", "not an unencrypted PEM private key"),
        ("small-rsa", "at least 2048 bits"),
        ("p384", r"must be an RSA \(RS256\) or P-256 \(ES256\) private key"),
    ],
    ids=["missing", "garbage", "small-rsa", "wrong-curve"],
)
def test_signing_key__bad_file_is_a_config_error_naming_the_variable(
    tmp_path: Path, content: Any, problem: str
) -> None:
    path = tmp_path / "key.pem"
    if content == "small-rsa":
        content = _pem(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    elif content == "p384":
        content = _pem(ec.generate_private_key(ec.SECP384R1()))
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigError, match=problem) as caught:
        load_signing_key(_settings(tmp_path, jwt_private_key_file=path))
    assert "AUTHSVC_JWT_PRIVATE_KEY_FILE" in str(caught.value)


def test_settings__production_without_a_signing_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="AUTHSVC_JWT_PRIVATE_KEY_FILE"):
        load_settings(
            environment="production",
            data_dir=tmp_path,
            database_url="postgresql+psycopg://x@127.0.0.1/x",
            smtp_url="smtp://127.0.0.1:25",
            jwks_url="https://issuer.example/jwks.json",
        )


def test_signing_key__from_pem_refuses_public_keys() -> None:
    public = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    pem = public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    with pytest.raises(ConfigError):
        signing_key_from_pem(pem, source="test")
