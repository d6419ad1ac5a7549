"""POST /invite/{inviteToken}/accept (tagged `Users` in the contract). No bearer token."""

from __future__ import annotations

from typing import Any

from authsvc.services.container import Services


async def accept_invitation(
    invite_token: str, client_address: str, *, services: Services, body: Any = None
) -> tuple[dict[str, Any], int, dict[str, str]]:
    """POST /invite/{inviteToken}/accept: the user's tokens, as published."""
    # Without a body (or a JSON media type) Connexion hands over raw bytes: no password given.
    password = body.get("password") if isinstance(body, dict) else None
    tokens = await services.accept_invitation(
        invite_token=invite_token, password=password, client_address=client_address
    )
    data = {
        "access_token": tokens.access_token,
        "id_token": tokens.id_token,
        "refresh_token": tokens.refresh_token,
        "is_email_verified": True,
    }
    # RFC 6749 5.1: an answer that carries tokens must not be stored by any cache.
    body_out = {"status": "success", "message": "Invitation Accepted.", "data": data}
    return body_out, 200, {"Cache-Control": "no-store"}
