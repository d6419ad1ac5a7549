"""The services one app instance uses, built by the factory and handed to handlers."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import anyio
import anyio.to_thread

from app.errors import ServiceUnavailable
from app.security.principal import Principal
from app.security.tokens import TokenVerifier
from app.services.health import HealthService
from app.services.invites import InviteService

T = TypeVar("T")


@dataclass(frozen=True)
class Services:
    invites: InviteService
    health: HealthService
    tokens: TokenVerifier
    request_timeout_seconds: float = 10.0

    def authenticate(self, token: str) -> Principal:
        """The bearer check Connexion runs before any handler; raises Unauthorized."""
        return self.tokens.verify(token)

    async def within_deadline(self, work: Callable[[float], T]) -> T:
        """Run blocking database work in a thread; past the deadline answer the documented 500.

        `work` gets the deadline (a `time.monotonic()` value) so it can refuse to commit after it.

        Timeouts inside the driver do not cover every failure: a PostgreSQL server that stops
        answering on an open connection (frozen, or a silent network partition) blocks a read
        forever. The thread cannot be interrupted, so it is abandoned (it ends when the socket
        does, holding one pooled connection meanwhile) while the client gets its answer on time.
        """
        deadline = time.monotonic() + self.request_timeout_seconds
        try:
            with anyio.fail_after(self.request_timeout_seconds):
                return await anyio.to_thread.run_sync(work, deadline, abandon_on_cancel=True)
        except TimeoutError:
            raise ServiceUnavailable() from None
