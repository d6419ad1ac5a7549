"""The services one app instance uses, built by the factory and handed to handlers.

`Services` is the facade handlers call: one async method per use case, taking domain arguments
only (`await services.resend_invite(principal=..., customer_id=..., user_id=...)`). Each method
runs a synchronous unit of work (a function of a SQLAlchemy `Connection`, see
`authsvc.services.transactions`) with `await self.writes.run(unit, ...)` or
`await self.reads.run(unit, ...)`. There is one write path: on SQLite `writes` is a single thread
that owns the write lock, fed by a FIFO queue; on PostgreSQL a few threads, which wait on row
locks, not on each other. Reads run on threads of their own. The event loop never executes a
database call and never waits for a pooled connection, so a held lock slows writers only, and
`GET /openapi.json` or a 401 answers meanwhile (tests/reliability/test_loop_lag.py). It replaced
running SQLite writes on the loop whenever the lock looked free, which was faster only while
nothing else held the lock; the comparison is in bench/results/2026-12-01-writepath.md.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.to_thread
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from authsvc.db.engine import is_sqlite
from authsvc.db.models import normalize_email
from authsvc.db.threads import WorkerThreads
from authsvc.errors import (
    InvalidRefreshToken,
    PasswordRejected,
    RefreshTokenRequired,
    ServiceUnavailable,
    SignInFailed,
)
from authsvc.security.issuer import IssuedTokens
from authsvc.security.passwords import (
    hash_password,
    password_hasher,
    password_problems,
    rejection_message,
    verify_password,
)
from authsvc.security.principal import Principal
from authsvc.security.tokens import TokenVerifier
from authsvc.services.health import HealthService
from authsvc.services.invitations import AcceptanceService
from authsvc.services.invites import InviteService, hash_invite_token
from authsvc.services.logout import logout
from authsvc.services.refresh_session import refresh_session
from authsvc.services.sessions import SessionIssuer
from authsvc.services.sign_in import (
    complete_sign_in,
    email_domain,
    find_credentials,
    record_failure,
)
from authsvc.services.subroles import list_subroles
from authsvc.services.transactions import Transactions
from authsvc.services.users import UserChanges, UserFilters, UserPage, UserService

# Threads for reads, and for PostgreSQL writes. Together they stay below the engine's pool (size
# plus overflow), so a database thread never waits for a connection that another one holds.
READ_THREADS = 4
POSTGRES_WRITE_THREADS = 8
# Argon2id takes 19 MiB and ~25 ms of one core per hash: at most this many at once, so a burst of
# accepts cannot exhaust memory or every thread of the pool.
PASSWORD_HASHES_AT_ONCE = 2


@dataclass(frozen=True)
class Services:
    invites: InviteService
    health: HealthService
    tokens: TokenVerifier
    writes: Transactions
    reads: Transactions
    users: UserService
    acceptance: AcceptanceService
    sessions: SessionIssuer
    password_hashing: anyio.CapacityLimiter = field(
        default_factory=lambda: anyio.CapacityLimiter(PASSWORD_HASHES_AT_ONCE)
    )

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

    async def list_customer_users(
        self, *, principal: Principal, customer_id: uuid.UUID, filters: UserFilters
    ) -> UserPage:
        """One page of the customer's users (stable order, filters as documented)."""
        return await self.reads.run(
            self.users.list_users, principal=principal, customer_id=customer_id, filters=filters
        )

    async def get_customer_user(
        self, *, principal: Principal, customer_id: uuid.UUID, user_id: uuid.UUID
    ) -> dict[str, Any]:
        """The user and their customer's company record, as published."""
        return await self.reads.run(
            self.users.get_user, principal=principal, customer_id=customer_id, user_id=user_id
        )

    async def create_customer_user(
        self,
        *,
        principal: Principal,
        customer_id: uuid.UUID,
        first_name: str,
        last_name: str,
        email: str,
        mobile: str | None,
        subrole_id: uuid.UUID,
    ) -> uuid.UUID:
        """Create an INVITED user and queue their invite mail, atomically; the new user's id."""
        return await self.writes.run(
            self.users.create_user,
            principal=principal,
            customer_id=customer_id,
            first_name=first_name,
            last_name=last_name,
            email=email,
            mobile=mobile,
            subrole_id=subrole_id,
        )

    async def update_customer_user(
        self,
        *,
        principal: Principal,
        customer_id: uuid.UUID,
        user_id: uuid.UUID,
        changes: UserChanges,
    ) -> None:
        """Apply a PATCH (audited); see `UserService.update_user` for the status rules."""
        await self.writes.run(
            self.users.update_user,
            principal=principal,
            customer_id=customer_id,
            user_id=user_id,
            changes=changes,
        )

    async def list_customer_subroles(
        self, *, principal: Principal, customer_id: uuid.UUID
    ) -> list[dict[str, Any]]:
        """The customer's subroles, as published."""
        return await self.reads.run(list_subroles, principal=principal, customer_id=customer_id)

    async def accept_invitation(self, *, invite_token: str, password: str | None) -> IssuedTokens:
        """Check the password rules, hash it (off the loop), then use up the invitation.

        The password is hashed before the invitation is looked up, whatever the token: an
        unknown token costs what a valid one does (see authsvc.services.invitations).
        """
        problems = password_problems(password or "")
        if problems:
            raise PasswordRejected(rejection_message(problems))
        assert password is not None  # an absent password breaks every rule
        password_hash = await anyio.to_thread.run_sync(
            hash_password, password, limiter=self.password_hashing
        )
        return await self.writes.run(
            self.acceptance.accept_invitation,
            token_hash=hash_invite_token(invite_token),
            password_hash=password_hash,
        )

    async def sign_in(self, *, email: str, password: str) -> dict[str, Any]:
        """A new session for e-mail and password, or `SignInFailed` (the same for every cause).

        Every refusal does the same work: one lookup, one Argon2id verification (a dummy hash
        when there is no usable one), one audit write (authsvc.services.sign_in).
        """
        normalized = normalize_email(email)
        found = await self.reads.run(find_credentials, email=normalized)
        verified, stale = await anyio.to_thread.run_sync(
            _verify, found.stored_hash, password, limiter=self.password_hashing
        )
        if not verified or found.row is None:
            await self.writes.run(record_failure, email_hint=email_domain(normalized))
            raise SignInFailed()
        new_hash = None
        if stale:  # the parameters changed since it was stored: rehash while we have it
            new_hash = await anyio.to_thread.run_sync(
                hash_password, password, limiter=self.password_hashing
            )
        return await self.writes.run(
            complete_sign_in,
            issuer=self.sessions,
            row=found.row,
            new_hash=new_hash,
            old_hash=found.stored_hash,
        )

    async def refresh_session(self, *, refresh_token: str | None) -> IssuedTokens:
        """Rotate the session's refresh token (authsvc.services.refresh_session)."""
        if not refresh_token:
            raise RefreshTokenRequired()
        outcome = await self.writes.run(
            refresh_session, issuer=self.sessions, refresh_token=refresh_token
        )
        if isinstance(outcome, InvalidRefreshToken):
            raise outcome
        return outcome

    async def logout(self, *, principal: Principal, refresh_token: str | None) -> None:
        """End the bearer's session (and the given refresh token's, if the caller's)."""
        await self.writes.run(logout, principal=principal, refresh_token=refresh_token)

    def jwks(self) -> dict[str, Any]:
        """The public keys of the tokens the service issues (no database)."""
        return self.sessions.tokens.signing_key.jwks()

    async def database_reachable(self) -> bool:
        """True when the database answers a trivial query before the request deadline."""
        try:
            return await self.reads.run(self.health.database_answers)
        except (ServiceUnavailable, DBAPIError):
            return False

    def close(self) -> None:
        """Close the pool; the database threads end by themselves once idle."""
        self.writes.engine.dispose()


def _verify(stored_hash: str, password: str) -> tuple[bool, bool]:
    """(matches, needs a rehash): one Argon2id verification, CPU-bound (off the loop)."""
    if not verify_password(stored_hash, password):
        return False, False
    return True, password_hasher().check_needs_rehash(stored_hash)


def database_runners(
    engine: Engine, *, timeout_seconds: float, idle_seconds: float = 10.0
) -> tuple[Transactions, Transactions]:
    """The write and read paths over `engine`: one writer thread on SQLite, a few on PostgreSQL."""
    sqlite = is_sqlite(engine)
    writes = Transactions(
        engine,
        WorkerThreads(
            "authsvc-writer", 1 if sqlite else POSTGRES_WRITE_THREADS, idle_seconds=idle_seconds
        ),
        timeout_seconds=timeout_seconds,
        write=True,
        group_commit=sqlite,  # one sync of the log for all the writes waiting (FULL)
    )
    reads = Transactions(
        engine,
        WorkerThreads("authsvc-reader", READ_THREADS, idle_seconds=idle_seconds),
        timeout_seconds=timeout_seconds,
        write=False,
    )
    return writes, reads
