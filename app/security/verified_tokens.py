"""Remember tokens already verified, so a client reusing its access token skips the signature check.

A client sends the same bearer token on every call until it expires. Verifying it again costs
more than the rest of the authentication (parsing, base64 checks in Python, the RSA/ECDSA check;
bench/results/ has the figure). An entry here is the `Principal` of a token whose signature,
issuer, audience and required claims all passed; on a hit only the time-bound checks run again.

Why this is safe:
- Keys are SHA-256 digests of the token, never the token, so the cache holds nothing replayable.
- Only successes are remembered; a failing token is checked in full every time.
- `exp` (and `nbf`) are checked on every hit with the verifier's leeway, so an entry never outlives
  its token; and an entry is dropped after `max_age_seconds` whatever `exp` says, so a key removed
  from the JWKS (or a replaced PEM) stops being honoured within that time.
- The caller's account is still looked up on every request (an INACTIVE user is refused at once).
- Bounded: at most `max_entries`, the oldest evicted first.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from authsvc.security.principal import Principal


@dataclass(frozen=True, slots=True)
class _Entry:
    principal: Principal
    expires_at: float  # the token's `exp` plus leeway (epoch seconds)
    not_before: float  # the token's `nbf` minus leeway, or -inf
    forget_at: float  # monotonic: when the entry must be verified afresh anyway


class VerifiedTokenCache:
    """A bounded, thread-safe map from token digest to the principal it verified as."""

    def __init__(
        self,
        *,
        max_age_seconds: float,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._max_age = max_age_seconds
        self._max_entries = max_entries
        self._clock = clock
        self._monotonic = monotonic
        self._entries: OrderedDict[bytes, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def enabled(self) -> bool:
        return self._max_age > 0 and self._max_entries > 0

    def __len__(self) -> int:
        return len(self._entries)

    @staticmethod
    def digest(token: str) -> bytes:
        return hashlib.sha256(token.encode("utf-8", "surrogatepass")).digest()

    def get(self, digest: bytes) -> Principal | None:
        """The principal of a remembered token that is still within its time bounds, else None."""
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            now = self._clock()
            if (
                self._monotonic() >= entry.forget_at
                or now >= entry.expires_at
                or now < entry.not_before
            ):
                del self._entries[digest]  # verified afresh, and refused if it should be
                return None
            return entry.principal

    def put(
        self, digest: bytes, principal: Principal, *, expires_at: float, not_before: float
    ) -> None:
        if not self.enabled:
            return
        entry = _Entry(principal, expires_at, not_before, self._monotonic() + self._max_age)
        with self._lock:
            self._entries[digest] = entry
            self._entries.move_to_end(digest)
            while len(self._entries) > self._max_entries:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
