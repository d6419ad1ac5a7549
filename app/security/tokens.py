"""Bearer token verification (the bearer function) and dev token minting.

`TokenVerifier.verify` turns a compact JWS into a `Principal` or raises `Unauthorized` with the
fixed message, whatever is wrong. Checks run cheapest and least trusting first: size and shape
before any decoding, the header's `alg`/`kid` before any key lookup, and the key's own algorithm
before PyJWT sees the key. Tokens are never logged; rejections log a fixed reason.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import time
import uuid
from collections.abc import Iterable, Mapping
from typing import Any, NoReturn

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from authsvc.config import Settings
from authsvc.errors import Unauthorized
from authsvc.security.jwk import KeySource, is_safe_kid
from authsvc.security.keys import DevKeys
from authsvc.security.principal import Principal, principal_from_claims
from authsvc.security.signing import SigningKeyRing, verifier_key_source
from authsvc.security.verified_tokens import VerifiedTokenCache

log = logging.getLogger(__name__)

REQUIRED_CLAIMS = ("exp", "iat", "sub", "iss", "aud")
# RFC 7519 4.1.4-6: these are NumericDates, JSON numbers. PyJWT applies int() to them, so
# without this check "99999999999" (a string) or `true` would pass as a time.
NUMERIC_DATE_CLAIMS = ("exp", "nbf", "iat")
SUPPORTED_ALGORITHMS = frozenset({"RS256", "ES256", "HS256"})
# Three non-empty base64url segments: rejects `alg: none` (empty signature), stripped signatures,
# padding, whitespace and non-ASCII before anything is decoded.
_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
# Headers that carry or point at a key. We trust only configured keys, so a token asking us to look
# elsewhere is refused outright instead of being silently ignored. `crit` names extensions we do
# not implement, which RFC 7515 says must be refused.
_REFUSED_HEADERS = frozenset({"jku", "x5u", "jwk", "x5c", "crit"})


class TokenVerifier:
    """Verifies bearer JWTs against one key source and the configured issuer and audience.

    The service requires every claim of `REQUIRED_CLAIMS`; the mock (`authsvc mock --verify-jwt`)
    uses the same verifier for tokens of any identity provider, with `issuer`/`audience` checked
    only when given and `exp` the only required claim.
    """

    def __init__(
        self,
        keys: KeySource,
        *,
        algorithms: Iterable[str],
        issuer: str | None,
        audience: str | None,
        required_claims: Iterable[str] = REQUIRED_CLAIMS,
        leeway_seconds: int = 30,
        max_token_bytes: int = 8192,
        verified: VerifiedTokenCache | None = None,
    ) -> None:
        self.keys = keys
        # Not `verified or ...`: an empty cache has len() 0 and would read as false.
        self.verified = VerifiedTokenCache(max_age_seconds=0) if verified is None else verified
        self._algorithms = frozenset(algorithms)
        if not self._algorithms or not self._algorithms <= SUPPORTED_ALGORITHMS:
            raise ValueError(f"algorithms must be among {', '.join(sorted(SUPPORTED_ALGORITHMS))}")
        self._issuer = issuer
        self._audience = audience
        self._required = [c for c in required_claims if c not in ("iss", "aud")]
        self._required += [c for c, v in (("iss", issuer), ("aud", audience)) if v is not None]
        self._leeway = leeway_seconds
        self._max_token_bytes = max_token_bytes

    @property
    def may_block(self) -> bool:
        """Whether verifying may wait on the network (a JWKS refresh): then run it off the loop."""
        return bool(getattr(self.keys, "may_block", False))

    def verify(self, token: str) -> Principal:
        """The caller a valid token names; `Unauthorized` for any problem with the token."""
        digest = None
        if self.verified.enabled and isinstance(token, str):
            digest = self.verified.digest(token)
            if (remembered := self.verified.get(digest)) is not None:
                return remembered
        claims = self.verify_claims(token)
        try:
            principal = principal_from_claims(claims)
        except Unauthorized:
            _reject("claims of the wrong type")
        if digest is not None:
            # `exp` (required) and `nbf` (when present) are numbers: checked in `_decode`.
            nbf = claims.get("nbf")
            self.verified.put(
                digest,
                principal,
                expires_at=float(claims["exp"]) + self._leeway,
                not_before=float(nbf) - self._leeway if nbf is not None else float("-inf"),
            )
        return principal

    def verify_claims(self, token: str) -> dict[str, Any]:
        """The claims of an authentic, current token; `Unauthorized` for any problem with it."""
        try:
            return self._decode(token)
        except Unauthorized:
            raise
        except jwt.PyJWTError as exc:
            # PyJWT's class names are fixed reasons; their messages may echo claim values.
            _reject(type(exc).__name__)
        except (ValueError, TypeError, OverflowError):
            # Belt and braces: malformed input must be a 401, never a 500.
            _reject("malformed token")

    def bearer_info(self, token: str) -> dict[str, Any]:
        """Connexion's `x-bearerInfoFunc` result: `sub` for its context, and the `principal`."""
        principal = self.verify(token)
        return {"sub": principal.subject, "principal": principal}

    def _decode(self, token: str) -> dict[str, Any]:
        # Length in characters first: cheap, and for the ASCII-only tokens that can pass the shape
        # check below it equals the length in bytes.
        if not isinstance(token, str) or len(token) > self._max_token_bytes:
            _reject("oversized or not a string")
        if _COMPACT_JWS.fullmatch(token) is None:
            _reject("not a compact JWS")

        header = jwt.get_unverified_header(token)
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._algorithms:
            _reject("algorithm not allowed")
        if _REFUSED_HEADERS.intersection(header):
            _reject("key-bearing or critical header")
        kid = header.get("kid")
        if kid is not None and (not isinstance(kid, str) or not is_safe_kid(kid)):
            _reject("malformed kid")

        try:
            key = self.keys.key_for(kid)
        except Unauthorized:
            _reject("no trusted key for this kid")
        if key.algorithm != alg:
            _reject("key does not match algorithm")

        claims: dict[str, Any] = jwt.decode(
            token,
            key.key,
            algorithms=[alg],
            issuer=self._issuer,
            audience=self._audience,
            leeway=self._leeway,
            options={
                "require": self._required,
                "enforce_minimum_key_length": True,
                "verify_aud": self._audience is not None,
                "verify_iss": self._issuer is not None,
            },
        )
        if not all(_is_numeric_date(claims, name) for name in NUMERIC_DATE_CLAIMS):
            _reject("a time claim that is not a JSON number")
        return claims


def build_token_verifier(settings: Settings, keys: SigningKeyRing | None = None) -> TokenVerifier:
    """The verifier the settings describe: the configured keys plus the service's signing keys."""
    return TokenVerifier(
        verifier_key_source(settings, keys),
        algorithms=settings.jwt_algorithms,
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
        leeway_seconds=settings.jwt_leeway_seconds,
        max_token_bytes=settings.jwt_max_token_bytes,
        verified=VerifiedTokenCache(max_age_seconds=settings.jwt_verified_cache_seconds),
    )


class TokenMinter:
    """Signs dev tokens (RS256, `kid` header) with the dev private key, parsed once."""

    def __init__(self, dev_keys: DevKeys, *, issuer: str, audience: str) -> None:
        self._private_key = _private_key(dev_keys.private_pem)
        self._kid = dev_keys.kid
        self._issuer = issuer
        self._audience = audience

    def mint(
        self,
        *,
        subject: uuid.UUID | str,
        customer_id: uuid.UUID | str | None,
        permissions: Iterable[str] = (),
        platform_admin: bool = False,
        ttl_seconds: int = 3600,
        session_id: uuid.UUID | None = None,
    ) -> str:
        """A token the dev verifier accepts for `ttl_seconds`; no `customer_id` claim if None.

        With `session_id` it names that session (`sid`) and works only while the session lives.
        """
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": str(uuid.UUID(str(subject))),
            "iat": now,
            "exp": now + ttl_seconds,
            "jti": uuid.uuid4().hex,
            "permissions": sorted(set(permissions)),
            "platform_admin": platform_admin,
        }
        if customer_id is not None:
            claims["customer_id"] = str(uuid.UUID(str(customer_id)))
        if session_id is not None:
            claims["sid"] = str(session_id)
        return jwt.encode(claims, self._private_key, algorithm="RS256", headers={"kid": self._kid})


def mint_token(
    dev_keys: DevKeys,
    *,
    subject: uuid.UUID | str,
    customer_id: uuid.UUID | str | None,
    permissions: Iterable[str] = (),
    platform_admin: bool = False,
    issuer: str,
    audience: str,
    ttl_seconds: int = 3600,
    session_id: uuid.UUID | None = None,
) -> str:
    """One dev token; use `TokenMinter` to mint many."""
    return TokenMinter(dev_keys, issuer=issuer, audience=audience).mint(
        subject=subject,
        customer_id=customer_id,
        permissions=permissions,
        platform_admin=platform_admin,
        ttl_seconds=ttl_seconds,
        session_id=session_id,
    )


@functools.lru_cache(maxsize=8)
def _private_key(pem: bytes) -> rsa.RSAPrivateKey:
    # Cached because loading checks the RSA key, which costs more than signing a token.
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError("the dev signing key must be an RSA private key")
    return key


def _is_numeric_date(claims: Mapping[str, Any], name: str) -> bool:
    if name not in claims:
        return True
    value = claims[name]
    # bool is an int in Python, not a number in JSON.
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _reject(reason: str) -> NoReturn:
    log.info("bearer token rejected: %s", reason)
    raise Unauthorized()
