from __future__ import annotations

import datetime
import logging
import os
import stat
import threading
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from pydantic import SecretStr

from authsvc.config import Settings
from authsvc.errors import ConfigError, Unauthorized
from authsvc.security.jwk import VerificationKey, jwk_thumbprint, key_from_jwk
from authsvc.security.keys import (
    DEV_KEY_FILENAME,
    DevKeys,
    JwksKeySource,
    StaticKeySource,
    build_key_source,
    hmac_key_source,
    load_or_create_dev_keys,
    load_public_key_file,
)

SECRET = "s3cr3t-" + "x" * 40


def _public_pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _certificate_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "issuer.test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + datetime.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM)


def test_load_or_create_dev_keys__created_once_with_mode_0600(data_dir: Path) -> None:
    first = load_or_create_dev_keys(data_dir)
    path = data_dir / DEV_KEY_FILENAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes() == first.private_pem
    mtime = path.stat().st_mtime_ns

    second = load_or_create_dev_keys(data_dir)

    assert second == first
    assert path.stat().st_mtime_ns == mtime
    assert sorted(p.name for p in data_dir.iterdir()) == [DEV_KEY_FILENAME]


def test_load_or_create_dev_keys__kid_is_rfc7638_thumbprint(dev_keys: DevKeys) -> None:
    public_key = serialization.load_pem_public_key(dev_keys.public_pem)
    assert isinstance(public_key, rsa.RSAPublicKey)
    assert public_key.key_size == 2048
    assert dev_keys.kid == jwk_thumbprint(public_key)
    assert "PRIVATE" not in repr(dev_keys)


def test_load_or_create_dev_keys__racing_creators_agree(data_dir: Path) -> None:
    barrier = threading.Barrier(4)
    results: list[DevKeys] = []

    def create() -> None:
        barrier.wait()
        results.append(load_or_create_dev_keys(data_dir))

    threads = [threading.Thread(target=create) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(results) == 4
    assert {keys.kid for keys in results} == {load_or_create_dev_keys(data_dir).kid}
    assert sorted(p.name for p in data_dir.iterdir()) == [DEV_KEY_FILENAME]


@pytest.mark.parametrize(
    "content",
    [b"", b"not a key", b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"],
    ids=["empty", "garbage", "broken-pem"],
)
def test_load_or_create_dev_keys__unreadable_key_is_never_replaced(
    data_dir: Path, content: bytes
) -> None:
    data_dir.mkdir()
    (data_dir / DEV_KEY_FILENAME).write_bytes(content)
    with pytest.raises(ConfigError, match=DEV_KEY_FILENAME):
        load_or_create_dev_keys(data_dir)
    assert (data_dir / DEV_KEY_FILENAME).read_bytes() == content


def test_load_or_create_dev_keys__ec_key_refused(data_dir: Path, ec_key: Any) -> None:
    data_dir.mkdir()
    pem = ec_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    (data_dir / DEV_KEY_FILENAME).write_bytes(pem)
    with pytest.raises(ConfigError, match="not an RSA private key"):
        load_or_create_dev_keys(data_dir)


def test_load_or_create_dev_keys__readable_by_others_warns_without_key_material(
    data_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    keys = load_or_create_dev_keys(data_dir)
    os.chmod(data_dir / DEV_KEY_FILENAME, 0o644)
    with caplog.at_level(logging.DEBUG, logger="authsvc.security"):
        assert load_or_create_dev_keys(data_dir) == keys
    assert "chmod 600" in caplog.text
    assert "BEGIN" not in caplog.text


def test_jwk_thumbprint__rfc7638_example() -> None:
    # The example key of RFC 7638, section 3.1, and the thumbprint the RFC gives for it.
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECP"
        "ebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY"
        "368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0f"
        "M4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
    )
    key = key_from_jwk({"kty": "RSA", "n": n, "e": "AQAB", "kid": "rfc7638"})
    assert isinstance(key.key, rsa.RSAPublicKey)
    assert jwk_thumbprint(key.key) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"


@pytest.mark.parametrize(
    ("make_pem", "algorithm"),
    [
        (lambda: _public_pem(rsa.generate_private_key(65537, 2048)), "RS256"),
        (lambda: _public_pem(ec.generate_private_key(ec.SECP256R1())), "ES256"),
        (lambda: _certificate_pem(ec.generate_private_key(ec.SECP256R1())), "ES256"),
    ],
    ids=["rsa-2048", "ec-p256", "ec-p256-certificate"],
)
def test_load_public_key_file__accepted(tmp_path: Path, make_pem: Any, algorithm: str) -> None:
    path = tmp_path / "issuer.pem"
    path.write_bytes(make_pem())
    source = load_public_key_file(path)
    assert source.key.algorithm == algorithm
    assert source.key_for(None) is source.key
    assert source.key_for("any-issuer-kid") is source.key


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (lambda: _public_pem(rsa.generate_private_key(65537, 1024)), "at least 2048 bits"),
        (lambda: _public_pem(ec.generate_private_key(ec.SECP384R1())), "P-256"),
        (
            lambda: rsa.generate_private_key(65537, 2048).private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
            "not a PEM public key",
        ),
        (lambda: b"hello", "not a PEM public key"),
        (None, "cannot be read"),
    ],
    ids=["rsa-1024", "ec-p384", "private-key", "garbage", "missing"],
)
def test_load_public_key_file__refused(tmp_path: Path, content: Any, problem: str) -> None:
    path = tmp_path / "issuer.pem"
    if content is not None:
        path.write_bytes(content())
    with pytest.raises(ConfigError, match="AUTHSVC_JWT_PUBLIC_KEY_FILE") as caught:
        load_public_key_file(path)
    assert problem in str(caught.value)


@pytest.mark.parametrize(
    ("key_kid", "token_kid", "accepted"),
    [
        ("dev", "dev", True),
        ("dev", None, True),
        ("dev", "other", False),
        (None, "anything", True),
        (None, None, True),
    ],
    ids=["same-kid", "no-token-kid", "other-kid", "keyless-kid-any", "keyless-kid-none"],
)
def test_static_key_source__kid(key_kid: str | None, token_kid: str | None, accepted: bool) -> None:
    source = StaticKeySource(VerificationKey("HS256", b"k" * 32, key_kid))
    if accepted:
        assert source.key_for(token_kid) is source.key
    else:
        with pytest.raises(Unauthorized):
            source.key_for(token_kid)


def test_hmac_key_source__short_secret_refused() -> None:
    with pytest.raises(ConfigError, match="AUTHSVC_JWT_HS256_SECRET"):
        hmac_key_source("too-short")


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({}, StaticKeySource),
        ({"jwt_hs256_secret": SecretStr(SECRET)}, StaticKeySource),
        ({"jwks_url": "http://127.0.0.1:9/jwks.json"}, JwksKeySource),
        ({"jwt_public_key_file": "issuer.pem"}, StaticKeySource),
    ],
    ids=["dev-key", "hs256", "jwks", "pem-file"],
)
def test_build_key_source__chosen_by_settings(
    tmp_path: Path, ec_key: Any, overrides: dict[str, Any], expected: type
) -> None:
    (tmp_path / "issuer.pem").write_bytes(_public_pem(ec_key))
    if "jwt_public_key_file" in overrides:
        overrides["jwt_public_key_file"] = tmp_path / "issuer.pem"
    settings = Settings(data_dir=tmp_path / "data", **overrides)

    source = build_key_source(settings)

    assert isinstance(source, expected)
    assert (tmp_path / "data" / DEV_KEY_FILENAME).exists() is settings.uses_dev_key
