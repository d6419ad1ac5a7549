"""Verification keys and their JWK (RFC 7517) form: the vocabulary every key source shares.

A `VerificationKey` binds one key to the one algorithm it may verify. The verifier compares that
binding with the token's `alg` before PyJWT sees the key, so an RSA public key can never be used as
an HMAC secret (algorithm confusion) and an EC key never meets an RSA algorithm.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric import ec, rsa

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey

MIN_RSA_BITS = 2048
MIN_HMAC_BYTES = 32

# Identifiers seen in the wild are base64, base64url, hex or dotted names (some issuers use `+/=`).
# Anything else — quotes, spaces, backslashes, control characters — is refused before any lookup, so
# a hostile `kid` never reaches a log line or a cache as-is. A `kid` is only ever a dictionary key.
_SAFE_KID = re.compile(r"[A-Za-z0-9._~+/=:-]{1,255}")
_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """One key and the single algorithm it verifies (`RS256`, `ES256` or `HS256`)."""

    algorithm: str
    key: PublicKey | bytes = field(repr=False)
    kid: str | None = None


class KeySource(Protocol):
    """Where the verifier finds the key for a token's `kid`; raises `Unauthorized` if none fits."""

    def key_for(self, kid: str | None) -> VerificationKey: ...


def is_safe_kid(kid: str) -> bool:
    """True when `kid` is made only of characters real issuers use."""
    return _SAFE_KID.fullmatch(kid) is not None


def verification_key(public_key: object, kid: str | None = None) -> VerificationKey:
    """Bind an RSA (>= 2048 bits, RS256) or P-256 (ES256) public key; else `ValueError`."""
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < MIN_RSA_BITS:
            raise ValueError(f"RSA keys need at least {MIN_RSA_BITS} bits")
        return VerificationKey("RS256", public_key, kid)
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if not isinstance(public_key.curve, ec.SECP256R1):
            raise ValueError("EC keys must be on P-256 (the only curve ES256 allows)")
        return VerificationKey("ES256", public_key, kid)
    raise ValueError("only RSA and EC P-256 public keys are supported")


def hmac_verification_key(secret: str) -> VerificationKey:
    """Bind a shared secret to HS256."""
    raw = secret.encode("utf-8")
    if len(raw) < MIN_HMAC_BYTES:
        raise ValueError(f"HS256 secrets need at least {MIN_HMAC_BYTES} bytes")
    return VerificationKey("HS256", raw, None)


def public_jwk(public_key: PublicKey, kid: str | None = None) -> dict[str, str]:
    """The public JWK of an RSA or P-256 key, with `alg`, `use` and (if given) `kid`."""
    jwk = _required_members(public_key)
    jwk.update(alg=verification_key(public_key).algorithm, use="sig")
    if kid is not None:
        jwk["kid"] = kid
    return jwk


def jwk_thumbprint(public_key: PublicKey) -> str:
    """RFC 7638 SHA-256 thumbprint: a `kid` that changes exactly when the key does."""
    canonical = json.dumps(_required_members(public_key), sort_keys=True, separators=(",", ":"))
    return _b64url(hashlib.sha256(canonical.encode("ascii")).digest())


def key_from_jwk(jwk: Mapping[str, Any]) -> VerificationKey:
    """A verification key from one JWKS entry; `ValueError` for keys we must not or cannot use."""
    kid = jwk.get("kid")
    if not isinstance(kid, str) or not is_safe_kid(kid):
        raise ValueError("JWK without a usable kid")
    if jwk.get("use", "sig") != "sig":
        raise ValueError("JWK not meant for signatures")
    key_ops = jwk.get("key_ops")
    if key_ops is not None and (not isinstance(key_ops, list) or "verify" not in key_ops):
        raise ValueError("JWK not meant for verification")

    kty = jwk.get("kty")
    public_key: PublicKey
    if kty == "RSA":
        public_key = rsa.RSAPublicNumbers(
            e=int.from_bytes(_b64url_decode(jwk.get("e"))),
            n=int.from_bytes(_b64url_decode(jwk.get("n"))),
        ).public_key()
    elif kty == "EC" and jwk.get("crv") == "P-256":
        x, y = _b64url_decode(jwk.get("x")), _b64url_decode(jwk.get("y"))
        if len(x) != 32 or len(y) != 32:
            raise ValueError("P-256 coordinates must be 32 bytes")
        public_key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + x + y)
    else:
        # Symmetric ("oct") keys are never taken from a JWKS: publishing a shared secret makes
        # it public, and accepting one would let anyone who can read the JWKS mint tokens.
        raise ValueError("unsupported JWK type")

    key = verification_key(public_key, kid)
    if jwk.get("alg", key.algorithm) != key.algorithm:
        raise ValueError("JWK alg does not match its key type")
    return key


def _required_members(public_key: PublicKey) -> dict[str, str]:
    if isinstance(public_key, rsa.RSAPublicKey):
        numbers = public_key.public_numbers()
        return {"kty": "RSA", "n": _b64url_uint(numbers.n), "e": _b64url_uint(numbers.e)}
    if not isinstance(public_key.curve, ec.SECP256R1):
        raise ValueError("EC keys must be on P-256")
    point = public_key.public_numbers()
    size = (public_key.curve.key_size + 7) // 8
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": _b64url(point.x.to_bytes(size)),
        "y": _b64url(point.y.to_bytes(size)),
    }


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _b64url_uint(value: int) -> str:
    return _b64url(value.to_bytes(max(1, (value.bit_length() + 7) // 8)))


def _b64url_decode(value: Any) -> bytes:
    # `urlsafe_b64decode` silently drops characters outside the alphabet; refuse them instead.
    if not isinstance(value, str) or _BASE64URL.fullmatch(value) is None:
        raise ValueError("JWK member is not base64url")
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
