"""The services one app instance uses, built by the factory and handed to handlers."""

from __future__ import annotations

from dataclasses import dataclass

from app.security.principal import Principal
from app.security.tokens import TokenVerifier
from app.services.health import HealthService
from app.services.invites import InviteService


@dataclass(frozen=True)
class Services:
    invites: InviteService
    health: HealthService
    tokens: TokenVerifier

    def authenticate(self, token: str) -> Principal:
        """The bearer check Connexion runs before any handler; raises Unauthorized."""
        return self.tokens.verify(token)
