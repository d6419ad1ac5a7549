"""The services one app instance uses, built by the factory and handed to handlers.

`Services` is the facade handlers call: one async method per use case, taking domain arguments
only (`await services.resend_invite(principal=..., customer_id=..., user_id=...)`). Each method
runs a synchronous unit of work (a function of a SQLAlchemy `Connection`, see
`authsvc.services.transactions`) with `await self.writes.run(unit, ...)` or
`await self.reads.run(unit, ...)`. There is one write path: on SQLite `writes` is a single thread
that owns the write lock, fed by a FIFO queue; on PostgreSQL a few threads, which wait on row
locks, not on each other. Reads run on threads of their own. The event loop never executes a
database call and never waits for a pooled connection, so a held lock slows writers only, and
`GET /openapi.json` or a 401 answers meanwhile (tests/reliability/test_loop_lag.py). Why this
design rather than running SQLite writes on the loop when the lock is free: bench/results/.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from authsvc.db.engine import is_sqlite
from authsvc.db.threads import WorkerThreads
from authsvc.errors import ServiceUnavailable
from authsvc.security.principal import Principal
from authsvc.security.tokens import TokenVerifier
from authsvc.services.health import HealthService
from authsvc.services.invites import InviteService
from authsvc.services.transactions import Transactions

# Threads for reads, and for PostgreSQL writes. Together they stay below the engine's pool (size
# plus overflow), so a database thread never waits for a connection that another one holds.
READ_THREADS = 4
POSTGRES_WRITE_THREADS = 8


@dataclass(frozen=True)
class Services:
    invites: InviteService
    health: HealthService
    tokens: TokenVerifier
    writes: Transactions
    reads: Transactions

    def authenticate(self, token: str) -> Principal:
        """The bearer check Connexion runs before any handler; raises Unauthorized."""
        return self.tokens.verify(token)

    async def resend_invite(
        self, *, principal: Principal, customer_id: uuid.UUID, user_id: uuid.UUID
    ) -> None:
        """Resend a user's invitation, or raise the documented refusal (audited either way)."""
        refusal = await self.writes.run(
            self.invites.resend_invite,
            principal=principal,
            customer_id=customer_id,
            user_id=user_id,
        )
        if refusal is not None:
            raise refusal

    async def database_reachable(self) -> bool:
        """True when the database answers a trivial query before the request deadline."""
        try:
            return await self.reads.run(self.health.database_answers)
        except (ServiceUnavailable, DBAPIError):
            return False

    def close(self) -> None:
        """Stop the database threads (queued work still runs) and close the pool."""
        self.writes.threads.close()
        self.reads.threads.close()
        self.writes.engine.dispose()


def database_runners(
    engine: Engine, *, timeout_seconds: float
) -> tuple[Transactions, Transactions]:
    """The write and read paths over `engine`: one writer thread on SQLite, a few on PostgreSQL."""
    writers = 1 if is_sqlite(engine) else POSTGRES_WRITE_THREADS
    writes = Transactions(
        engine,
        WorkerThreads("authsvc-writer", writers),
        timeout_seconds=timeout_seconds,
        write=True,
    )
    reads = Transactions(
        engine,
        WorkerThreads("authsvc-reader", READ_THREADS),
        timeout_seconds=timeout_seconds,
        write=False,
    )
    return writes, reads
