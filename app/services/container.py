"""The services one app instance uses, built by the factory and handed to handlers.

`Services` is the facade handlers call: one async method per use case, taking domain arguments
only (`await services.resend_invite(principal=..., customer_id=..., user_id=...)`). Each method
runs a synchronous unit of work (a function of a SQLAlchemy `Connection`, see
`authsvc.db.runner`) with `await self.writes.run(unit, ...)` or
`await self.reads.run(unit, ...)`. There is one write path: on SQLite `writes` is a single thread
that owns the write lock, fed by a FIFO queue; on PostgreSQL a few threads, which wait on row
locks, not on each other. Reads run on threads of their own. The event loop never executes a
database call and never waits for a pooled connection, so a held lock slows writers only, and
`GET /openapi.json` or a 401 answers meanwhile (tests/reliability/test_loop_lag.py; the figures
are in bench/results/2026-12-01-writepath.md).
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from typing import Any

import anyio
import anyio.to_thread
from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from authsvc.config import Settings
from authsvc.db.engine import is_sqlite
from authsvc.db.models import normalize_email
from authsvc.db.runner import Transactions
from authsvc.db.threads import WorkerThreads
from authsvc.errors import (
    InvalidRefreshToken,
    RefreshTokenRequired,
    ServiceUnavailable,
    SignInFailed,
    SignInThrottled,
    TooManyAttempts,
)
from authsvc.mail.sealing import OutboxSealer
from authsvc.metrics import SIGN_IN_FAILURES, SIGN_IN_THROTTLED, OutboxSnapshot, exposition
from authsvc.security.issuer import IssuedTokens
from authsvc.security.passwords import hash_password
from authsvc.security.principal import Principal
from authsvc.security.tokens import TokenVerifier
from authsvc.services.accept_invitation import (
    accept_invitation,
    checked_new_password,
    hash_new_password,
)
from authsvc.services.forgot_password import forgot_password, hash_reset_token
from authsvc.services.health import database_answers, migrations, outbox_snapshot
from authsvc.services.invitations import hash_invite_token
from authsvc.services.limits import admit_attempt, raise_unless_allowed
from authsvc.services.logout import logout
from authsvc.services.read_users import UserFilters, UserPage, get_user, list_users
from authsvc.services.refresh_session import refresh_session
from authsvc.services.resend_invite import resend_invite
from authsvc.services.reset_password import reset_password
from authsvc.services.sessions import SessionIssuer
from authsvc.services.sign_in import (
    begin_sign_in,
    check_credentials,
    complete_sign_in,
    email_domain,
    record_failure,
)
from authsvc.services.subroles import list_subroles
from authsvc.services.write_users import UserChanges, create_user, update_user

# Threads for reads, and for PostgreSQL writes. Together they stay below the engine's pool (size
# plus overflow), so a database thread never waits for a connection that another one holds.
READ_THREADS = 4
POSTGRES_WRITE_THREADS = 8
# Argon2id takes 19 MiB and a few tens of ms of one core per hash: at most one at a time per core
# but one, so a flood of accepts leaves a core to the event loop (tests/reliability/
# test_accept_flood.py) and cannot exhaust memory or every thread of the pool.
_CPUS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 2
PASSWORD_HASHES_AT_ONCE = max(1, _CPUS - 1)


@dataclass(frozen=True)
class Services:
    settings: Settings
    issuer: SessionIssuer  # the token issuer with the session lifetimes
    sealer: OutboxSealer  # seals the tokens of queued mail (authsvc.mail.sealing)
    tokens: TokenVerifier
    writes: Transactions
    reads: Transactions
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
            resend_invite,
            settings=self.settings,
            sealer=self.sealer,
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
            list_users, principal=principal, customer_id=customer_id, filters=filters
        )

    async def get_customer_user(
        self, *, principal: Principal, customer_id: uuid.UUID, user_id: uuid.UUID
    ) -> dict[str, Any]:
        """The user and their customer's company record, as published."""
        return await self.reads.run(
            get_user, principal=principal, customer_id=customer_id, user_id=user_id
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
            create_user,
            settings=self.settings,
            sealer=self.sealer,
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
        """Apply a PATCH (audited); see `write_users.update_user` for the status rules."""
        await self.writes.run(
            update_user,
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

    async def accept_invitation(
        self, *, invite_token: str, password: str | None, client_address: str
    ) -> IssuedTokens:
        """Check the password rules, count the attempt, hash it (off the loop), use up the invitation.

        The password is hashed before the invitation is looked up, whatever the token: an
        unknown token costs what a valid one does (see authsvc.services.accept_invitation). That
        cost is why each client address gets a limited number of attempts (`TooManyAttempts`).
        """
        checked = checked_new_password(password)
        admitted = await self.writes.run(
            admit_attempt, self.settings, client_address=client_address
        )
        raise_unless_allowed(admitted, TooManyAttempts)
        password_hash = await hash_new_password(checked, self.password_hashing)
        return await self.writes.run(
            accept_invitation,
            issuer=self.issuer,
            token_hash=hash_invite_token(invite_token),
            password_hash=password_hash,
        )

    async def sign_in(self, *, email: str, password: str, client_address: str) -> dict[str, Any]:
        """A new session for e-mail and password, or `SignInFailed` (the same for every cause).

        Counted by the throttle first (`SignInThrottled`, no hash spent), then one Argon2id check
        off the loop whoever the e-mail names, then one write: the failure or the session
        (authsvc.services.sign_in).
        """
        normalized = normalize_email(email)
        attempt = await self.writes.run(
            begin_sign_in,
            settings=self.settings,
            email=normalized,
            client_address=client_address,
        )
        if isinstance(attempt, SignInThrottled):
            SIGN_IN_THROTTLED.inc()
            raise attempt
        check = await check_credentials(attempt.credentials, password, self.password_hashing)
        if not check.matches or attempt.credentials.row is None:
            await self.writes.run(record_failure, email_hint=email_domain(normalized))
            SIGN_IN_FAILURES.inc()
            raise SignInFailed()
        new_hash = None
        if check.needs_rehash:  # the normalisation or the parameters changed since it was stored
            new_hash = await anyio.to_thread.run_sync(
                hash_password, password, limiter=self.password_hashing
            )
        return await self.writes.run(
            complete_sign_in,
            settings=self.settings,
            issuer=self.issuer,
            attempt=attempt,
            email=normalized,
            new_hash=new_hash,
        )

    async def refresh_session(self, *, refresh_token: str | None) -> IssuedTokens:
        """Rotate the session's refresh token (authsvc.services.refresh_session)."""
        if not refresh_token:
            raise RefreshTokenRequired()
        outcome = await self.writes.run(
            refresh_session, issuer=self.issuer, refresh_token=refresh_token
        )
        if isinstance(outcome, InvalidRefreshToken):
            raise outcome
        return outcome

    async def logout(self, *, principal: Principal | None, refresh_token: str | None) -> None:
        """End the bearer's session (and the refresh token's, if the caller's); without a
        usable bearer, the refresh token's session (`Unauthorized` if it names no live one)."""
        await self.writes.run(logout, principal=principal, refresh_token=refresh_token)

    async def forgot_password(self, *, email: str, client_address: str) -> None:
        """Queue a reset mail for an ACTIVE user; nothing else, and nothing said either way."""
        await self.writes.run(
            forgot_password,
            settings=self.settings,
            sealer=self.sealer,
            email=normalize_email(email),
            client_address=client_address,
        )

    async def reset_password(
        self, *, reset_token: str, password: str | None, client_address: str
    ) -> None:
        """Check the password rules, count the attempt, hash it (off the loop), use the link.

        As accept: the hash comes before the link is looked up, whatever the token, so an
        unusable token costs what a usable one does; hence the per-address limit, accept's.
        """
        checked = checked_new_password(password)
        admitted = await self.writes.run(
            admit_attempt, self.settings, client_address=client_address
        )
        raise_unless_allowed(admitted, TooManyAttempts)
        password_hash = await hash_new_password(checked, self.password_hashing)
        await self.writes.run(
            reset_password,
            settings=self.settings,
            sealer=self.sealer,
            token_hash=hash_reset_token(reset_token),
            password_hash=password_hash,
        )

    def jwks(self) -> dict[str, Any]:
        """The public keys of the tokens the service issues, the signer's first (no database)."""
        return self.issuer.tokens.key_ring.jwks()

    async def database_reachable(self) -> bool:
        """True when the database answers a trivial query before the request deadline."""
        try:
            return await self.reads.run(database_answers)
        except (ServiceUnavailable, DBAPIError):
            return False

    async def readiness(self) -> dict[str, str]:
        """Whether this instance can serve: database, migrations and signing key, by name."""
        try:
            schema = await self.reads.run(migrations)
            database = "ok"
        except (ServiceUnavailable, DBAPIError):
            database, schema = "unreachable", "unknown"
        signing_key = "loaded" if self.issuer.tokens.signing_key is not None else "missing"
        ready = database == "ok" and schema == "current" and signing_key == "loaded"
        return {
            "status": "ready" if ready else "unready",
            "database": database,
            "migrations": schema,
            "signing_key": signing_key,
        }

    async def metrics(self) -> bytes:
        """The Prometheus exposition; the outbox gauges are left out if the database is down."""
        try:
            outbox: OutboxSnapshot | None = await self.reads.run(outbox_snapshot)
        except (ServiceUnavailable, DBAPIError):
            outbox = None
        return exposition(outbox)

    @property
    def engine(self) -> Engine:
        """The database engine both paths use (tests and the lifespan's checkpoints need it)."""
        return self.writes.engine

    def close(self) -> None:
        """Close the pool; the database threads end by themselves once idle."""
        self.writes.engine.dispose()


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
