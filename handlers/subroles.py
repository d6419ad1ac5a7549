"""GET /customers/{customerID}/subroles (tagged `Customers` in the contract)."""

from __future__ import annotations

import uuid
from typing import Any

from authsvc.security.principal import Principal
from authsvc.services.container import Services


async def list_customer_subroles(
    customer_id: str, token_info: dict[str, Any], *, services: Services
) -> tuple[dict[str, Any], int]:
    """GET /customers/{customerID}/subroles."""
    principal: Principal = token_info["principal"]
    subroles = await services.list_customer_subroles(
        principal=principal, customer_id=uuid.UUID(customer_id)
    )
    message = "Customer subroles fetched successfully."
    return {"status": "success", "message": message, "data": subroles}, 200
