"""A customer's subroles: what the admin picks from when creating or updating a user."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Connection, bindparam, select

from authsvc.db.models import customers_table, subroles_table
from authsvc.errors import CustomerDoesNotExist
from authsvc.security.policy import USERS_READ_PERMISSION
from authsvc.security.principal import Principal
from authsvc.services.authorization import authorize

_subroles = subroles_table
_CUSTOMER_EXISTS = select(customers_table.c.id).where(
    customers_table.c.id == bindparam("customer_id")
)
_SUBROLES = (
    select(
        _subroles.c.id,
        _subroles.c.code,
        _subroles.c.label,
        _subroles.c.display_name,
        _subroles.c.description,
        _subroles.c.role_id,
    )
    .where(_subroles.c.customer_id == bindparam("customer_id"))
    .order_by(_subroles.c.code, _subroles.c.id)
)


def list_subroles(
    connection: Connection, *, principal: Principal, customer_id: uuid.UUID
) -> list[dict[str, Any]]:
    """The customer's subroles by code, as published; `CustomerDoesNotExist` (400) if none."""
    authorize(connection, principal, customer_id, USERS_READ_PERMISSION)
    if connection.execute(_CUSTOMER_EXISTS, {"customer_id": customer_id}).first() is None:
        raise CustomerDoesNotExist()  # only a platform admin gets this far
    return [
        {
            "id": str(row.id),
            "code": row.code,
            "label": row.label,
            "display_name": row.display_name,
            "description": row.description,
            "role_id": row.role_id,
        }
        for row in connection.execute(_SUBROLES, {"customer_id": customer_id})
    ]
