"""Who is calling: the claims of a verified token, parsed into the shape authorization reads.

Claim names are the ones the contract documents (`openapi/auth-service.yaml`, Authentication):
`sub` (uuid string), `customer_id` (uuid string), `permissions` (array of strings) and
`platform_admin` (boolean). Their types are checked here; what the caller may do is decided from
the database (`authsvc.services.authorization`), never from `permissions` or `platform_admin`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from authsvc.errors import Unauthorized

RESEND_INVITE_PERMISSION = "users:resend-invite"
USERS_READ_PERMISSION = "users:read"
USERS_WRITE_PERMISSION = "users:write"

# Only the canonical 8-4-4-4-12 form: `uuid.UUID()` would also take braces, `urn:uuid:` and bare
# hex, and two spellings of one caller make audit logs and comparisons harder than they need be.
_CANONICAL_UUID = re.compile(
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)


@dataclass(frozen=True, slots=True)
class Principal:
    """The authenticated caller; `subject` is the canonical lower-case uuid string of `sub`."""

    subject: str
    customer_id: uuid.UUID | None
    permissions: frozenset[str]
    platform_admin: bool
    # `sid`: the session of a token the service issued (checked live on every request); None for
    # another issuer's tokens, which the user's `tokens_valid_after` bounds instead.
    session_id: uuid.UUID | None = None
    issued_at: float = 0.0  # `iat`

    @property
    def subject_id(self) -> uuid.UUID:
        return uuid.UUID(self.subject)


def principal_from_claims(claims: Mapping[str, Any]) -> Principal:
    """A `Principal` from verified claims; any claim of the wrong type is `Unauthorized`."""
    subject = _uuid_claim(claims.get("sub"))
    if subject is None:
        raise Unauthorized()

    customer_id: uuid.UUID | None = None
    if "customer_id" in claims:
        customer_id = _uuid_claim(claims["customer_id"])
        if customer_id is None:
            raise Unauthorized()

    raw_permissions = claims.get("permissions", [])
    if not isinstance(raw_permissions, list) or not all(
        isinstance(p, str) for p in raw_permissions
    ):
        raise Unauthorized()

    platform_admin = claims.get("platform_admin", False)
    # `type(...) is bool`: JSON 1 or "true" must not turn anyone into a platform admin.
    if type(platform_admin) is not bool:
        raise Unauthorized()

    session_id: uuid.UUID | None = None
    if "sid" in claims:
        session_id = _uuid_claim(claims["sid"])
        if session_id is None:
            raise Unauthorized()
    issued_at = claims.get("iat", 0)
    if isinstance(issued_at, bool) or not isinstance(issued_at, (int, float)):
        raise Unauthorized()

    return Principal(
        subject=str(subject),
        customer_id=customer_id,
        permissions=frozenset(raw_permissions),
        platform_admin=platform_admin,
        session_id=session_id,
        issued_at=float(issued_at),
    )


def _uuid_claim(value: Any) -> uuid.UUID | None:
    if not isinstance(value, str) or _CANONICAL_UUID.fullmatch(value) is None:
        return None
    return uuid.UUID(value)
