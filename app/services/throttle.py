"""The one throttle: how often a key may do something, counted in the database.

Every limit of the service is a rule of this module applied to a (scope, key): invitation mails
per customer and per user, password work per client address, and (the sessions work) sign-in and
reset. Events are rows of `throttle_events`, so a limit holds across processes and instances, on
SQLite and PostgreSQL alike. Each function takes the caller's `Connection`: it is part of a unit
of work (authsvc.services.transactions) and never commits or sleeps.

Two kinds of rule:

* `Window(scope, ceiling, seconds)`: at most `ceiling` events of a key in any `seconds`. The
  window slides and is exact: once full, the answer is when its oldest event leaves it.
* `Backoff(scope, free, base_seconds, cap_seconds, quiet_seconds)`: a progressive delay, as Cognito
  slows sign-in: `free` events cost nothing, then each one must wait `base_seconds` after the
  previous, doubling with every further event up to `cap_seconds`; a key with no event for
  `quiet_seconds` after its delay ran out starts from nothing again (measured from the end of the
  delay, so that waiting out the cap is not a reset), and `clear` (a success) does so at once.

`hit` is what a request does: decide, and count the event when it is allowed, atomically (on
PostgreSQL under a transaction-level advisory lock per key, on SQLite under the write lock the
unit already holds). Counting before the work rather than after it fails is what makes a burst of
concurrent attempts meet the limit: none of them is decided before the ones ahead are counted.
`release` takes one counted event back (an attempt that succeeded, for a rule on failures);
`peek` decides without counting. A refused hit counts nothing, so a flood never grows a key past
its ceiling, and each counted event deletes a few expired rows of any key.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Connection, bindparam, delete, func, insert, select, update

from authsvc.db.models import throttle_events_table
from authsvc.db.types import utcnow

_events = throttle_events_table
# Expired rows each counted event deletes: more than it adds, so the table stays near its live size.
PRUNE_BATCH = 8


@dataclass(frozen=True, slots=True)
class Window:
    """At most `ceiling` events of a key in any `seconds` (a sliding window)."""

    scope: str
    ceiling: int
    seconds: float


@dataclass(frozen=True, slots=True)
class Backoff:
    """`free` events, then a delay from `base_seconds` doubling to `cap_seconds`; reset when quiet."""

    scope: str
    free: int
    base_seconds: float
    cap_seconds: float
    quiet_seconds: float

    def delay_after(self, events: int) -> float:
        """How long the next event waits after the newest of `events` counted ones."""
        if events < self.free:
            return 0.0
        doublings = min(events - self.free, 64)  # past the cap anyway; bounds the power
        return float(min(self.cap_seconds, self.base_seconds * 2**doublings))

    @property
    def kept(self) -> int:
        """Events worth keeping per key: with more, the delay would be the cap all the same."""
        ratio = self.cap_seconds / self.base_seconds if self.base_seconds > 0 else 1.0
        return self.free + max(0, math.ceil(math.log2(max(ratio, 1.0)))) + 1

    @property
    def horizon_seconds(self) -> float:
        """How long the newest event of a key matters: its delay, then the quiet period."""
        return self.cap_seconds + self.quiet_seconds


Rule = Window | Backoff


@dataclass(frozen=True, slots=True)
class Decision:
    """`retry_after` seconds to wait (0: allowed); `event_id` of the event a hit counted."""

    retry_after: int = 0
    event_id: int | None = None

    @property
    def allowed(self) -> bool:
        return self.retry_after == 0


def key_digest(key: str) -> str:
    """The stored form of a key: its SHA-256, so no address is kept in the clear."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def hit(connection: Connection, rule: Rule, key: str, *, now: datetime | None = None) -> Decision:
    """Decide for one more event of `key`, and count it if allowed (see the module docstring)."""
    now = now or utcnow()
    digest = key_digest(key)
    _lock(connection, rule.scope, digest)
    wait = _wait(connection, rule, digest, now, forget_stale=True)
    if wait:
        return Decision(wait)
    horizon = rule.seconds if isinstance(rule, Window) else rule.horizon_seconds
    expires_at = now + timedelta(seconds=horizon)
    event_id = connection.execute(
        _INSERT,
        {"scope": rule.scope, "key_digest": digest, "at": now, "expires_at": expires_at},
    ).scalar_one()
    if isinstance(rule, Backoff):
        # A chain of events lives as long as its newest one matters, and no longer than useful.
        this_key: dict[str, Any] = {"b_scope": rule.scope, "b_key": digest}
        connection.execute(_EXTEND, {**this_key, "b_expires_at": expires_at})
        connection.execute(_TRIM, {**this_key, "b_skip": rule.kept - 1})
    connection.execute(_PRUNE, {"b_now": now, "b_batch": PRUNE_BATCH})
    return Decision(0, int(event_id))


def peek(connection: Connection, rule: Rule, key: str, *, now: datetime | None = None) -> Decision:
    """What `hit` would decide now, counting nothing."""
    now = now or utcnow()
    digest = key_digest(key)
    _lock(connection, rule.scope, digest)
    return Decision(_wait(connection, rule, digest, now, forget_stale=False))


def release(connection: Connection, decision: Decision) -> None:
    """Take back the event `decision` counted (a no-op for a refusal)."""
    if decision.event_id is not None:
        connection.execute(_RELEASE, {"b_id": decision.event_id})


def clear(connection: Connection, rule: Rule, key: str) -> None:
    """Forget every event of `key` under `rule` (a success ends a backoff)."""
    connection.execute(_CLEAR, {"b_scope": rule.scope, "b_key": key_digest(key)})


def _wait(
    connection: Connection, rule: Rule, digest: str, now: datetime, *, forget_stale: bool
) -> int:
    if isinstance(rule, Window):
        since = now - timedelta(seconds=rule.seconds)
        # The ceiling-th newest event in the window: once it leaves, there is room again.
        edge = connection.execute(
            _NTH_NEWEST,
            {"scope": rule.scope, "key_digest": digest, "since": since, "skip": rule.ceiling - 1},
        ).scalar_one_or_none()
        return 0 if edge is None else _seconds_until(_aware(edge) + (now - since), now)
    counted, newest = connection.execute(_CHAIN, {"scope": rule.scope, "key_digest": digest}).one()
    if newest is None:
        return 0
    allowed_at = _aware(newest) + timedelta(seconds=rule.delay_after(counted))
    if now >= allowed_at + timedelta(seconds=rule.quiet_seconds):
        if forget_stale:
            connection.execute(_CLEAR, {"b_scope": rule.scope, "b_key": digest})
        return 0
    return _seconds_until(allowed_at, now)


def _seconds_until(moment: datetime, now: datetime) -> int:
    """Whole seconds from `now` to `moment`, rounded up (0 when it has passed)."""
    remaining = (moment - now).total_seconds()
    return max(1, math.ceil(remaining)) if remaining > 0 else 0


def _aware(value: datetime | str) -> datetime:
    # Typed by UTCDateTime; an aggregate may come back as SQLite's stored text, naive UTC.
    parsed = datetime.fromisoformat(value) if isinstance(value, str) else value
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=utcnow().tzinfo)


def _lock(connection: Connection, scope: str, digest: str) -> None:
    """Serialise the decisions on one key until the transaction ends (PostgreSQL only).

    SQLite needs none: a write unit already holds the database's write lock (BEGIN IMMEDIATE),
    which every process shares.
    """
    if connection.dialect.name == "postgresql":
        lock_id = int.from_bytes(
            hashlib.sha256(f"{scope}\0{digest}".encode()).digest()[:8], "big", signed=True
        )
        connection.execute(_ADVISORY_LOCK, {"lock_id": lock_id})


_KEY = (_events.c.scope == bindparam("scope"), _events.c.key_digest == bindparam("key_digest"))
_B_KEY = (_events.c.scope == bindparam("b_scope"), _events.c.key_digest == bindparam("b_key"))
_NTH_NEWEST = (
    select(_events.c.at)
    .where(*_KEY, _events.c.at > bindparam("since"))
    .order_by(_events.c.at.desc())
    .limit(1)
    .offset(bindparam("skip"))
)
_CHAIN = select(func.count(_events.c.id), func.max(_events.c.at)).where(*_KEY)
_INSERT = insert(_events).returning(_events.c.id)
_EXTEND = update(_events).where(*_B_KEY).values(expires_at=bindparam("b_expires_at"))
# Subqueries read the table under another name: they must not correlate with the DELETE's.
_other = _events.alias("other")
# Keep the last `kept` events of the key (no-op while it has fewer). By id, not time: events of
# one key are inserted in order under its lock, and ids have no ties.
_TRIM = delete(_events).where(
    *_B_KEY,
    _events.c.id
    < select(_other.c.id)
    .where(_other.c.scope == bindparam("b_scope"), _other.c.key_digest == bindparam("b_key"))
    .order_by(_other.c.id.desc())
    .limit(1)
    .offset(bindparam("b_skip"))
    .scalar_subquery(),
)
_RELEASE = delete(_events).where(_events.c.id == bindparam("b_id"))
_CLEAR = delete(_events).where(*_B_KEY)
# PostgreSQL: skip rows another transaction is deleting rather than wait for it.
_PRUNE = delete(_events).where(
    _events.c.id.in_(
        select(_other.c.id)
        .where(_other.c.expires_at < bindparam("b_now"))
        .order_by(_other.c.expires_at)
        .limit(bindparam("b_batch"))
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
)
_ADVISORY_LOCK = select(func.pg_advisory_xact_lock(bindparam("lock_id", type_=BigInteger)))
