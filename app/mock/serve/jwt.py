"""`--verify-jwt`: real bearer tokens for the mock, checked by the service's own verifier.

The engine knows only the `BearerCheck` protocol (`authsvc.mock.engine.model`); this adapter
brings PyJWT and the keys, and loads only in a mock started with `--verify-jwt`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # PyJWT + cryptography load only in a mock started with --verify-jwt
    from authsvc.security.tokens import TokenVerifier

DEFAULT_ALGORITHMS = ("RS256", "ES256")


@dataclass(frozen=True)
class JwtCheck:
    """`--verify-jwt`: the service's verifier, then the customer the path names (else 403).

    Prism accepts any `Bearer x`. Frontends also need the failures a real service gives: 401 for
    a token that is expired, forged or meant for someone else, and 403 for a valid token of
    another customer. Keys are the frontend team's: a PEM file or a JWKS URL.
    """

    verifier: TokenVerifier
    customer_param: str | None = "customerID"
    customer_claim: str = "customer_id"
    admin_claim: str = "platform_admin"

    @classmethod
    def build(
        cls,
        *,
        public_key_file: Path | None = None,
        jwks_url: str | None = None,
        issuer: str | None = None,
        audience: str | None = None,
        algorithms: Sequence[str] = DEFAULT_ALGORITHMS,
        **options: Any,
    ) -> JwtCheck:
        """From a PEM file or a JWKS URL (exactly one); ValueError names the bad option."""
        from authsvc.errors import ConfigError
        from authsvc.security.keys import JWKS_TIMEOUT_SECONDS, JwksKeySource, load_public_key_file
        from authsvc.security.tokens import TokenVerifier

        if (public_key_file is None) == (jwks_url is None):
            raise ValueError("--verify-jwt needs exactly one of a public key file or a JWKS URL")
        keys: Any
        if public_key_file is not None:
            try:
                keys = load_public_key_file(public_key_file)
            except ConfigError as exc:
                detail = str(exc).partition(": ")[2] or str(exc)
                raise ValueError(f"--jwt-public-key: {detail}") from None
        else:
            keys = JwksKeySource(str(jwks_url), timeout=JWKS_TIMEOUT_SECONDS)
        verifier = TokenVerifier(
            keys,
            algorithms=algorithms,
            issuer=issuer,
            audience=audience,
            required_claims=("exp",),
        )
        return cls(verifier, **options)

    @property
    def may_block(self) -> bool:
        """A JWKS refresh may wait on the network: the server then answers off its event loop."""
        return self.verifier.may_block

    def failure(self, token: str, path_params: Mapping[str, str]) -> tuple[int, str] | None:
        """None if the token may be used, else (401 or 403, why)."""
        from authsvc.errors import Unauthorized

        try:
            claims = self.verifier.verify_claims(token)
        except Unauthorized:
            return 401, "Invalid bearer token"
        if not self.customer_param or claims.get(self.admin_claim) is True:
            return None
        wanted = {k.lower(): v for k, v in path_params.items()}.get(self.customer_param.lower())
        if wanted is not None and str(claims.get(self.customer_claim)) != wanted:
            return 403, f"The token's {self.customer_claim} is not {wanted}"
        return None
