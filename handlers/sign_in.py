"""The `Sign In` tag: sign-in, refresh, logout (and the password reset pair). No SQL or JWT here."""

from __future__ import annotations

from typing import Any

from authsvc.security.principal import Principal
from authsvc.services.container import Services

# RFC 6749 5.1: an answer that carries tokens must not be stored by any cache.
NO_STORE = {"Cache-Control": "no-store"}


async def customer_sign_in(
    client_address: str, *, services: Services, body: dict[str, Any]
) -> tuple[dict[str, Any], int, dict[str, str]]:
    """POST /customer/sign-in: a new session's tokens, as published (unwrapped)."""
    data = await services.sign_in(
        email=body["email"], password=body["password"], client_address=client_address
    )
    return {"status": "success", "message": "Logged In successfully", "data": data}, 200, NO_STORE


async def refresh_customer_token(
    *, services: Services, body: Any = None
) -> tuple[dict[str, Any], int, dict[str, str]]:
    """POST /refresh-token/customer: new tokens and the rotated refresh token."""
    token = body.get("refresh_token") if isinstance(body, dict) else None
    tokens = await services.refresh_session(refresh_token=token)
    data = {
        "access_token": tokens.access_token,
        "id_token": tokens.id_token,
        "refresh_token": tokens.refresh_token,
    }
    return {"status": "success", "message": "Success", "data": data}, 200, NO_STORE


async def customer_logout(
    token_info: dict[str, Any], *, services: Services, body: Any = None
) -> tuple[dict[str, Any], int]:
    """POST /customer/logout: the bearer's session ends (or, without one, the refresh token's)."""
    # The contract's anonymous alternative lets an expired bearer through with no principal.
    principal: Principal | None = token_info.get("principal")
    token = body.get("refresh_token") if isinstance(body, dict) else None
    await services.logout(principal=principal, refresh_token=token)
    return {"status": "success", "message": "Logout successful"}, 200


async def forgot_password(
    client_address: str, *, services: Services, body: dict[str, Any]
) -> tuple[dict[str, Any], int]:
    """POST /forgot-password: always the published 200 (a mail only for an ACTIVE user)."""
    await services.forgot_password(email=body["email"], client_address=client_address)
    message = "A link to reset your password has been sent to the registered email"
    return {"status": "success", "message": message}, 200


async def reset_password(
    client_address: str, *, services: Services, body: dict[str, Any]
) -> tuple[dict[str, Any], int]:
    """POST /reset-password: the new password; every session of the user ends."""
    await services.reset_password(
        reset_token=body["reset_token"], password=body["password"], client_address=client_address
    )
    return {"status": "success", "message": "Password Changed successfully"}, 200
