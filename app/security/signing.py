"""The keys that sign the tokens the service issues, and their public halves as a JWKS document.

A ring of private keys: `AUTHSVC_JWT_PRIVATE_KEY_FILES` (comma-separated PEM files) or the single
`AUTHSVC_JWT_PRIVATE_KEY_FILE`, else the generated dev key in the data directory (outside
development the settings refuse to start without a key). The first key signs; every key is
published in `/.well-known/jwks.json` and verifies bearer tokens, so a rotation is: publish the new
key second, let clients' JWKS caches catch up, move it first (it signs), and keep the old one
second until the last token it signed has expired (docs/operations.md). RSA (>= 2048 bits) keys
sign RS256, P-256 keys ES256. Each `kid` is the key's RFC 7638 thumbprint, so a verifier finds it
in the JWKS without any naming convention.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from authsvc.config import Settings
from authsvc.errors import ConfigError, Unauthorized
from authsvc.security.jwk import (
    KeySource,
    VerificationKey,
    jwk_thumbprint,
    public_jwk,
    verification_key,
)
from authsvc.security.keys import build_key_source, load_or_create_dev_keys

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


@dataclass(frozen=True, slots=True)
class SigningKeyRing:
    """The service's private keys: the first signs, all are published and verify."""

    keys: tuple[SigningKey, ...]

    def __post_init__(self) -> None:
        if not self.keys:
            raise ValueError("a key ring needs at least one key")

    @property
    def signer(self) -> SigningKey:
        return self.keys[0]

    def jwks(self) -> dict[str, Any]:
        """The public JWKS document (RFC 7517): every key of the ring, the signer first."""
        return {"keys": [public_jwk(k.private_key.public_key(), k.kid) for k in self.keys]}

    def verification_keys(self) -> dict[str, VerificationKey]:
        return {k.kid: k.verification_key for k in self.keys}


@dataclass(frozen=True, slots=True)
class OwnKeysFirst:
    """The service's own keys by `kid`, else another issuer's keys (JWKS, PEM file), if any.

    A token without a `kid` is checked against the signing key (dev tokens have always had one;
    another issuer's tokens, without one, go to its source).
    """

    own: Mapping[str, VerificationKey]
    signer: VerificationKey
    other: KeySource | None = None

    def key_for(self, kid: str | None) -> VerificationKey:
        if kid is not None and kid in self.own:
            return self.own[kid]
        if self.other is not None:
            return self.other.key_for(kid)
        if kid is None:
            return self.signer
        raise Unauthorized()


def verifier_key_source(settings: Settings, keys: SigningKeyRing | None = None) -> KeySource:
    """What the bearer check trusts: the keys the settings name, plus the service's own keys.

    - No keys configured: the dev key, which also signs the tokens the service issues.
    - Private key files (production): their public keys, by `kid`, before the JWKS URL or public
      key file of another issuer, if any.
    - Only another issuer's keys (development): those alone, as before; the service's own tokens
      then verify only once a private key file is set.
    - An HS256 secret: that alone (see Settings: HS256 is never mixed with public-key algorithms).
    """
    external = bool(settings.jwks_url or settings.jwt_public_key_file)
    own_files = bool(settings.jwt_private_key_file or settings.jwt_private_key_files)
    if settings.jwt_hs256_secret is not None or (external and not own_files):
        return build_key_source(settings)
    ring = keys or load_signing_keys(settings)
    return OwnKeysFirst(
        ring.verification_keys(),
        ring.signer.verification_key,
        build_key_source(settings) if external else None,
    )


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
    """The key that signs: the first configured private key, else the dev key."""
    return load_signing_keys(settings).signer


def load_signing_keys(settings: Settings) -> SigningKeyRing:
    """The configured private key files, else (development and test) the dev key.

    Every problem of every file is reported at once (`ConfigError`, one line per file).
    """
    if settings.jwt_private_key_files:
        variable, paths = "AUTHSVC_JWT_PRIVATE_KEY_FILES", settings.jwt_private_key_files
    elif settings.jwt_private_key_file is not None:
        variable, paths = "AUTHSVC_JWT_PRIVATE_KEY_FILE", (settings.jwt_private_key_file,)
    elif settings.environment == "production":  # the settings refuse this already
        raise ConfigError("production needs AUTHSVC_JWT_PRIVATE_KEY_FILES")
    else:
        dev = load_or_create_dev_keys(settings.data_dir)
        return SigningKeyRing(
            (signing_key_from_pem(dev.private_pem, source=str(settings.data_dir)),)
        )
    keys, problems = [], []
    for path in paths:
        source = f"{variable}: {path}"
        try:
            keys.append(signing_key_from_pem(path.read_bytes(), source=source))
        except OSError as exc:
            problems.append(f"{source} cannot be read ({exc.strerror or exc})")
        except ConfigError as exc:
            problems += exc.problems
    kids = [k.kid for k in keys]
    if len(set(kids)) != len(kids):
        problems.append(f"{variable}: the same key is listed twice")
    if problems:
        raise ConfigError(*problems)
    return SigningKeyRing(tuple(keys))
