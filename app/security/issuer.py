"""The tokens the service issues when an invitation is accepted: id, access and refresh tokens.

- `id_token`: the bearer the other operations accept (as the published sign-in page says). A JWS
  signed with the service's key (`kid` header) carrying `sub`, `customer_id`, `permissions`, `iss`,
  `aud`, `exp` (short-lived), `iat`, `jti` and `token_use: "id"`.
- `access_token`: the same form and lifetime with `token_use: "access"`, for clients built
  against the published pages, which return both; the service accepts either as a bearer.
- `refresh_token`: opaque, 256 bits; only its SHA-256 is stored, bound to the user and the
  session. The first of a session is random; each rotation's successor is derived from its parent
  (`successor_of`), so the grace window can hand the same successor to a racing second refresh
  without the database ever holding a usable token.

Every token carries `sid`, the session it belongs to (authsvc.services.sessions).

`permissions` in a token describe the subrole at issue time, for the client's information only:
authorization reads the stored subrole on every request (`authsvc.services.authorization`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization

from authsvc.security.signing import SigningKey, SigningKeyRing

REFRESH_TOKEN_CHARS = 43  # 32 bytes, base64url without padding


def hash_refresh_token(token: str) -> str:
    """The only form in which a refresh token is stored."""
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class IssuedTokens:
    access_token: str = field(repr=False)
    id_token: str = field(repr=False)
    refresh_token: str = field(repr=False)
    refresh_token_hash: str
    refresh_expires_at: datetime


class TokenIssuer:
    """Signs the tokens of one user with the service's signing key."""

    def __init__(
        self,
        key: SigningKey | SigningKeyRing,
        *,
        issuer: str,
        audience: str,
        id_token_ttl_seconds: int = 900,
        refresh_token_ttl_seconds: int = 30 * 24 * 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        # A ring: its first key signs; every key of it is published (key_ring.jwks()).
        self._ring = key if isinstance(key, SigningKeyRing) else SigningKeyRing((key,))
        self._key = self._ring.signer
        self._issuer = issuer
        self._audience = audience
        self._id_ttl = id_token_ttl_seconds
        self._refresh_ttl = refresh_token_ttl_seconds
        self._clock = clock
        # The key of successor derivation: from the signing key, which lives outside the
        # database, so a copy of the database alone cannot compute any refresh token.
        der = self._key.private_key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        self._successor_key = hmac.new(der, b"authsvc refresh-token successor", "sha256").digest()

    @property
    def signing_key(self) -> SigningKey:
        return self._key

    @property
    def key_ring(self) -> SigningKeyRing:
        return self._ring

    def successor_of(self, parent_refresh_token: str) -> str:
        """The refresh token that replaces `parent_refresh_token`: HMAC(server key, parent).

        Deterministic, so a second refresh of the same parent within the grace window gets the
        very token the first one got, with nothing but its hash stored.
        """
        digest = hmac.new(self._successor_key, parent_refresh_token.encode(), "sha256").digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    def issue(
        self,
        *,
        user_id: uuid.UUID,
        customer_id: uuid.UUID,
        permissions: Iterable[str],
        session_id: uuid.UUID | None = None,
        refresh_token: str | None = None,
    ) -> IssuedTokens:
        """Id, access and refresh tokens of one session (the caller stores the refresh hash).

        `refresh_token` is the successor when rotating; a new session gets a random one.
        """
        now = int(self._clock())
        claims: dict[str, Any] = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": str(user_id),
            "customer_id": str(customer_id),
            "permissions": sorted(set(permissions)),
            "iat": now,
            "exp": now + self._id_ttl,
        }
        if session_id is not None:
            claims["sid"] = str(session_id)
        refresh_token = refresh_token or secrets.token_urlsafe(32)
        return IssuedTokens(
            access_token=self._sign({**claims, "jti": uuid.uuid4().hex, "token_use": "access"}),
            id_token=self._sign({**claims, "jti": uuid.uuid4().hex, "token_use": "id"}),
            refresh_token=refresh_token,
            refresh_token_hash=hash_refresh_token(refresh_token),
            refresh_expires_at=datetime.fromtimestamp(now + self._refresh_ttl, UTC),
        )

    def _sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(
            claims,
            self._key.private_key,
            algorithm=self._key.algorithm,
            headers={"kid": self._key.kid, "typ": "JWT"},
        )
