"""The key that signs the tokens the service issues, and its public half as a JWKS document.

One signing key per process: the PEM private key in `AUTHSVC_JWT_PRIVATE_KEY_FILE` (RSA >= 2048
bits signs RS256, a P-256 key ES256), else the generated dev key in the data directory (outside
development the settings refuse to start without the file). Its `kid` is the RFC 7638 thumbprint,
so a verifier finds it in `/.well-known/jwks.json` without any naming convention.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from authsvc.config import Settings
from authsvc.errors import ConfigError
from authsvc.security.jwk import (
    KeySource,
    VerificationKey,
    jwk_thumbprint,
    public_jwk,
    verification_key,
)
from authsvc.security.keys import StaticKeySource, build_key_source, load_or_create_dev_keys

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@dataclass(frozen=True, slots=True)
class SigningKey:
    """A private key, the one algorithm it signs with, and its `kid`."""

    private_key: PrivateKey = field(repr=False)
    algorithm: str
    kid: str

    @property
    def verification_key(self) -> VerificationKey:
        return verification_key(self.private_key.public_key(), self.kid)

    def jwks(self) -> dict[str, Any]:
        """The public JWKS document (RFC 7517) a client verifies issued tokens with."""
        return {"keys": [public_jwk(self.private_key.public_key(), self.kid)]}


@dataclass(frozen=True, slots=True)
class OwnKeyFirst:
    """The service's own signing key by its `kid`, else another issuer's keys (JWKS, PEM file)."""

    own: VerificationKey
    other: KeySource

    def key_for(self, kid: str | None) -> VerificationKey:
        if kid is not None and kid == self.own.kid:
            return self.own
        return self.other.key_for(kid)


def verifier_key_source(settings: Settings, signing_key: SigningKey | None = None) -> KeySource:
    """What the bearer check trusts: the keys the settings name, plus the service's own key.

    - No keys configured: the dev key, which also signs the tokens the service issues.
    - `AUTHSVC_JWT_PRIVATE_KEY_FILE` (production): its public key, by `kid`, before the JWKS URL
      or public key file of another issuer, if any.
    - Only another issuer's keys (development): those alone, as before; the service's own tokens
      then verify only once a private key file is set.
    - An HS256 secret: that alone (see Settings: HS256 is never mixed with public-key algorithms).
    """
    external = bool(settings.jwks_url or settings.jwt_public_key_file)
    if settings.jwt_hs256_secret is not None or (external and not settings.jwt_private_key_file):
        return build_key_source(settings)
    own = (signing_key or load_signing_key(settings)).verification_key
    return OwnKeyFirst(own, build_key_source(settings)) if external else StaticKeySource(own)


def signing_key_from_pem(pem: bytes, *, source: str) -> SigningKey:
    """An RSA (>= 2048 bits) or P-256 private key from PEM; `ConfigError` naming `source`."""
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise ConfigError(f"{source} is not an unencrypted PEM private key") from None
    if isinstance(key, rsa.RSAPrivateKey):
        if key.key_size < 2048:
            raise ConfigError(f"{source}: RSA keys need at least 2048 bits")
        return SigningKey(key, "RS256", jwk_thumbprint(key.public_key()))
    if isinstance(key, ec.EllipticCurvePrivateKey) and isinstance(key.curve, ec.SECP256R1):
        return SigningKey(key, "ES256", jwk_thumbprint(key.public_key()))
    raise ConfigError(f"{source} must be an RSA (RS256) or P-256 (ES256) private key")


def load_signing_key(settings: Settings) -> SigningKey:
    """The configured private key file, else (development and test) the dev key."""
    path = settings.jwt_private_key_file
    if path is not None:
        source = f"AUTHSVC_JWT_PRIVATE_KEY_FILE: {path}"
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise ConfigError(f"{source} cannot be read ({exc.strerror or exc})") from None
        return signing_key_from_pem(pem, source=source)
    if settings.environment == "production":  # the settings refuse this already; belt and braces
        raise ConfigError("production needs AUTHSVC_JWT_PRIVATE_KEY_FILE")
    dev = load_or_create_dev_keys(settings.data_dir)
    return signing_key_from_pem(dev.private_pem, source=str(settings.data_dir))
