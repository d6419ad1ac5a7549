"""Authorization rules: what a verified caller may do. Pure functions of the principal."""

from __future__ import annotations

import uuid

from authsvc.errors import Forbidden
from authsvc.security.principal import RESEND_INVITE_PERMISSION, Principal


def may_resend_invite(principal: Principal, customer_id: uuid.UUID) -> bool:
    """Platform admins: any customer; others: only their own, and only with the permission."""
    if principal.platform_admin:
        return True
    return (
        principal.customer_id is not None
        and principal.customer_id == customer_id
        and RESEND_INVITE_PERMISSION in principal.permissions
    )


def require_resend_invite(principal: Principal, customer_id: uuid.UUID) -> None:
    """`Forbidden` unless `may_resend_invite` allows it."""
    if not may_resend_invite(principal, customer_id):
        raise Forbidden()
