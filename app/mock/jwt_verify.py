"""Optional real bearer-token checks for the mock (`--verify-jwt`), with PyJWT.

Prism accepts any `Bearer x`. Frontends also need the failures a real service gives: 401 for a
token that is expired, forged or meant for someone else, and 403 for a valid token of another
customer. This module is independent of app.security on purpose: the mock must keep working
against any contract, with keys the frontend team controls.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # PyJWT + cryptography are imported only by a mock started with --verify-jwt
    import jwt

DEFAULT_ALGORITHMS = ("RS256", "ES256")


class TokenRejected(Exception):
    """The token may not be used: `status` is 401 (not authentic) or 403 (not allowed)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class JwtVerifier:
    """Verify signature, `exp`, `iss`, `aud`; then the customer the path names, if configured."""

    public_key: str | None = None
    jwks_url: str | None = None
    issuer: str | None = None
    audience: str | None = None
    algorithms: Sequence[str] = DEFAULT_ALGORITHMS
    customer_param: str | None = "customerID"
    customer_claim: str = "customer_id"
    admin_claim: str = "platform_admin"
    _jwks: jwt.PyJWKClient | None = field(default=None, init=False, repr=False)

    @classmethod
    def from_files(
        cls, *, public_key_file: Path | None = None, jwks_url: str | None = None, **options: Any
    ) -> JwtVerifier:
        """Build from a PEM file or a JWKS URL (exactly one)."""
        if (public_key_file is None) == (jwks_url is None):
            raise ValueError("--verify-jwt needs exactly one of a public key file or a JWKS URL")
        key = public_key_file.read_text(encoding="utf-8") if public_key_file else None
        return cls(public_key=key, jwks_url=jwks_url, **options)

    def verify(self, token: str, path_params: Mapping[str, str]) -> Mapping[str, Any]:
        """The token's claims, or TokenRejected with the status a real service would give."""
        import jwt

        try:
            key: Any = self._signing_key(token)
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=list(self.algorithms),
                issuer=self.issuer,
                audience=self.audience,
                options={"require": ["exp"], "verify_aud": self.audience is not None},
            )
        except (jwt.PyJWTError, ValueError) as exc:
            raise TokenRejected(401, f"Invalid bearer token: {exc}") from None
        self._authorise(claims, path_params)
        return claims

    def _signing_key(self, token: str) -> Any:
        if self.public_key is not None:
            return self.public_key
        if self._jwks is None:
            import jwt

            self._jwks = jwt.PyJWKClient(str(self.jwks_url), cache_keys=True)
        return self._jwks.get_signing_key_from_jwt(token).key

    def _authorise(self, claims: Mapping[str, Any], path_params: Mapping[str, str]) -> None:
        if not self.customer_param or claims.get(self.admin_claim) is True:
            return
        wanted = {k.lower(): v for k, v in path_params.items()}.get(self.customer_param.lower())
        if wanted is not None and str(claims.get(self.customer_claim)) != wanted:
            raise TokenRejected(403, f"The token's {self.customer_claim} is not {wanted}")
