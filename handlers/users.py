"""Operations on a customer's users (tagged `Customers` in the contract)."""

from __future__ import annotations

import uuid
from typing import Any

from authsvc.security.principal import Principal
from authsvc.services.container import Services
from authsvc.services.read_users import UserFilters
from authsvc.services.write_users import UserChanges

UPDATED = {"status": "success", "message": "User details updated successfully"}


async def list_customer_users(
    customer_id: str,
    token_info: dict[str, Any],
    *,
    services: Services,
    page: int = 1,
    items_per_page: int = 20,
    status: str | None = None,
    subrole: str | None = None,
    search: str | None = None,
) -> tuple[dict[str, Any], int]:
    """GET /customers/{customerID}/users."""
    principal: Principal = token_info["principal"]
    found = await services.list_customer_users(
        principal=principal,
        customer_id=uuid.UUID(customer_id),
        filters=UserFilters(
            page=page,
            items_per_page=items_per_page,
            status=status,
            subrole=subrole,
            search=search,
        ),
    )
    return {"status": "success", "message": "Success", "data": found.as_published()}, 200


async def create_customer_user(
    customer_id: str, body: dict[str, Any], token_info: dict[str, Any], *, services: Services
) -> tuple[dict[str, Any], int]:
    """POST /customers/{customerID}/users."""
    principal: Principal = token_info["principal"]
    user_id = await services.create_customer_user(
        principal=principal,
        customer_id=uuid.UUID(customer_id),
        first_name=body["first_name"],
        last_name=body["last_name"],
        email=body["email"],
        mobile=body.get("mobile"),
        subrole_id=uuid.UUID(body["subrole"]["id"]),
    )
    message = {"status": "success", "message": "Customer user created."}
    return {**message, "data": {"user_id": str(user_id)}}, 200


async def get_customer_user(
    customer_id: str, user_id: str, token_info: dict[str, Any], *, services: Services
) -> tuple[dict[str, Any], int]:
    """GET /customers/{customerID}/users/{userID}."""
    principal: Principal = token_info["principal"]
    user = await services.get_customer_user(
        principal=principal, customer_id=uuid.UUID(customer_id), user_id=uuid.UUID(user_id)
    )
    return {"status": "success", "message": "Success", "data": user}, 200


async def update_customer_user(
    customer_id: str,
    user_id: str,
    body: dict[str, Any],
    token_info: dict[str, Any],
    *,
    services: Services,
) -> tuple[dict[str, str], int]:
    """PATCH /customers/{customerID}/users/{userID}."""
    principal: Principal = token_info["principal"]
    subrole = body.get("subrole")
    await services.update_customer_user(
        principal=principal,
        customer_id=uuid.UUID(customer_id),
        user_id=uuid.UUID(user_id),
        changes=UserChanges(
            first_name=body.get("first_name"),
            last_name=body.get("last_name"),
            email=body.get("email"),
            mobile=body.get("mobile"),
            subrole_id=uuid.UUID(subrole["id"]) if subrole and "id" in subrole else None,
            status=body.get("status"),
        ),
    )
    return UPDATED, 200
