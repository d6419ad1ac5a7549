"""Operations tagged `Customers`."""

from __future__ import annotations

import uuid
from typing import Any

from authsvc.security.principal import Principal
from authsvc.services.container import Services

RESEND_OK = {"status": "success", "message": "Invite mail sent successfully"}


async def resend_invite(
    customer_id: str, user_id: str, token_info: dict[str, Any], *, services: Services
) -> tuple[dict[str, str], int]:
    """POST /customers/{customerID}/users/{userID}/resend-invite."""
    principal: Principal = token_info["principal"]
    await services.resend_invite(
        principal=principal, customer_id=uuid.UUID(customer_id), user_id=uuid.UUID(user_id)
    )
    return RESEND_OK, 200
