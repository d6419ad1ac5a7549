"""Key sources: where the verifier gets the keys it trusts, chosen once from the settings.

    StaticKeySource    one key: the generated dev key, a PEM public key file, or an HS256 secret
    JwksKeySource      keys fetched from a JWKS URL, cached by `kid` (see `authsvc.security.jwks`)

Keys are parsed when the source is built, never per request. Nothing here logs key material.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from authsvc.config import Settings
from authsvc.errors import ConfigError, Unauthorized
from authsvc.metrics import JWKS_FETCHES
from authsvc.security.jwk import (
    KeySource,
    VerificationKey,
    hmac_verification_key,
    jwk_thumbprint,
    verification_key,
)
from authsvc.security.jwks import JwksKeySource

__all__ = [
    "DEV_KEY_FILENAME",
    "JWKS_TIMEOUT_SECONDS",
    "DevKeys",
    "JwksKeySource",
    "KeySource",
    "StaticKeySource",
    "VerificationKey",
    "build_key_source",
    "hmac_key_source",
    "load_or_create_dev_keys",
    "load_public_key_file",
]

log = logging.getLogger(__name__)

DEV_KEY_FILENAME = "dev-signing-key.pem"
# The bearer function runs inside a request; a JWKS endpoint that hangs must not hang the service.
JWKS_TIMEOUT_SECONDS = 3.0


@dataclass(frozen=True, slots=True)
class StaticKeySource:
    """A single configured key. A token naming another `kid` than the key's own is refused."""

    key: VerificationKey

    def key_for(self, kid: str | None) -> VerificationKey:
        # A key without a kid of its own (PEM file, HS256 secret) comes from an issuer whose kid
        # naming we do not know, so any (well-formed) kid is accepted and the signature decides.
        if kid is not None and self.key.kid is not None and kid != self.key.kid:
            raise Unauthorized()
        return self.key


@dataclass(frozen=True, slots=True)
class DevKeys:
    """The development key pair kept in the data directory; `kid` is its RFC 7638 thumbprint."""

    private_pem: bytes = field(repr=False)
    public_pem: bytes
    kid: str

    def key_source(self) -> StaticKeySource:
        public_key = serialization.load_pem_public_key(self.public_pem)
        return StaticKeySource(verification_key(public_key, self.kid))


def build_key_source(settings: Settings) -> KeySource:
    """The key source the settings name: HS256 secret, JWKS URL, PEM file, else the dev key."""
    if settings.jwt_hs256_secret is not None:
        return hmac_key_source(settings.jwt_hs256_secret.get_secret_value())
    if settings.jwks_url:
        return MeteredJwksKeySource(
            settings.jwks_url,
            cache_seconds=settings.jwks_cache_seconds,
            cooldown_seconds=settings.jwks_refresh_cooldown_seconds,
            timeout=JWKS_TIMEOUT_SECONDS,
        )
    if settings.jwt_public_key_file is not None:
        return load_public_key_file(settings.jwt_public_key_file)
    return load_or_create_dev_keys(settings.data_dir).key_source()


class MeteredJwksKeySource(JwksKeySource):
    """A JWKS source whose fetches are counted (`authsvc_jwks_fetches_total{outcome}`)."""

    def _fetch(self) -> dict[str, VerificationKey]:
        try:
            keys = super()._fetch()
        except Exception:
            JWKS_FETCHES.labels("error").inc()
            raise
        JWKS_FETCHES.labels("ok").inc()
        return keys


def hmac_key_source(secret: str) -> StaticKeySource:
    """HS256 with a shared secret (at least 32 bytes)."""
    try:
        return StaticKeySource(hmac_verification_key(secret))
    except ValueError as exc:
        raise ConfigError(f"AUTHSVC_JWT_HS256_SECRET: {exc}") from None


def load_public_key_file(path: Path) -> StaticKeySource:
    """An RSA (>= 2048 bits) or P-256 public key from a PEM file (SubjectPublicKeyInfo or cert)."""
    problem = f"AUTHSVC_JWT_PUBLIC_KEY_FILE: {path}"
    try:
        pem = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{problem} cannot be read ({exc.strerror or exc})") from None
    try:
        if b"-----BEGIN CERTIFICATE-----" in pem:
            public_key: object = x509.load_pem_x509_certificate(pem).public_key()
        else:
            public_key = serialization.load_pem_public_key(pem)
    except ValueError:
        raise ConfigError(f"{problem} is not a PEM public key or certificate") from None
    try:
        return StaticKeySource(verification_key(public_key))
    except ValueError as exc:
        raise ConfigError(f"{problem}: {exc}") from None


def load_or_create_dev_keys(data_dir: Path) -> DevKeys:
    """The dev key pair in `data_dir`: generated (RSA 2048, mode 0600) on first use, then reused."""
    path = data_dir / DEV_KEY_FILENAME
    try:
        pem = path.read_bytes()
    except FileNotFoundError:
        pem = _create_dev_key(path)
    else:
        if os.name == "posix" and path.stat().st_mode & 0o077:
            log.warning("dev signing key %s is readable by other users; chmod 600 it", path)
    return _dev_keys_from_pem(pem, path)


def _dev_keys_from_pem(pem: bytes, path: Path) -> DevKeys:
    try:
        private_key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        private_key = None
    if not isinstance(private_key, rsa.RSAPrivateKey) or private_key.key_size < 2048:
        # Never overwrite it: tokens already handed out were signed with whatever is there.
        raise ConfigError(f"{path} is not an RSA private key; remove it to generate a new dev key")
    public_key = private_key.public_key()
    public_pem = public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return DevKeys(private_pem=pem, public_pem=public_pem, kid=jwk_thumbprint(public_key))


def _create_dev_key(path: Path) -> bytes:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    # mkstemp creates the file 0600; it is complete and fsynced before it gets its final name.
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".dev-signing-key.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as tmp:
            tmp.write(pem)
            tmp.flush()
            os.fsync(tmp.fileno())
        try:
            # A hard link publishes atomically and, unlike rename, never replaces: when two
            # processes race on first start, the first key wins and the other reads it.
            os.link(tmp_name, path)
        except FileExistsError:
            return path.read_bytes()
        except OSError:
            # Filesystems without hard links: rename is atomic too but replaces, so only the
            # window between this check and the rename is left to a racing process.
            if not path.exists():
                os.replace(tmp_name, path)
            return path.read_bytes()
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp_name)
    log.info("generated a dev signing key in %s", path)
    return pem
