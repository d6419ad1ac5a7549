"""Keys from a JWKS URL, cached by `kid`, with single-flight fetches and a refresh cooldown.

Rules, in the order `key_for` applies them:
- a known `kid` in a fresh cache is answered from memory;
- a known `kid` in an expired cache starts a refresh (subject to the cooldown) and waits for it;
  callers that find a refresh already running keep using the key in memory rather than wait, so
  removed keys stop working within `cache_seconds` plus one fetch;
- an unknown `kid` joins the fetch in progress, or starts one if `cooldown_seconds` have passed
  since the last fetch ENDED, successful or not, so a flood of random `kid`s costs at most one fetch
  per cooldown window and a JWKS endpoint that is down is not hammered; measured from the end, a
  fetch slower than the cooldown still leaves a cooldown after it;
- one fetch at a time (`FetchSchedule`), shared by everyone who waits for it, and nobody waits
  longer than one fetch `timeout`: the fetch runs in a thread of its own, so a JWKS server that
  accepts connections but never answers costs each waiter at most `timeout`, not one fetch each;
- a failed fetch keeps the last good keys (availability over freshness) and surfaces as
  `Unauthorized` only for keys we never had.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from authsvc.errors import Unauthorized
from authsvc.security.jwk import VerificationKey, key_from_jwk

log = logging.getLogger(__name__)

MAX_JWKS_BYTES = 256 * 1024


class JwksFetchError(Exception):
    """The JWKS could not be fetched or held no usable key; the last good keys stay in use."""


class Flight:
    """One fetch in progress; `landed` is set once its outcome (new keys or none) is in place."""

    __slots__ = ("landed",)

    def __init__(self) -> None:
        self.landed = threading.Event()


class FetchSchedule:
    """Single flight with a cooldown: at most one fetch at a time, the next one only `cooldown`
    after the last one ended.

    `join` and `land` hold one lock, so a caller either joins a flight before it lands (and its
    event, set after the state is updated, wakes it) or sees the landed state: no lost wake-up.
    """

    def __init__(self, cooldown_seconds: float, clock: Callable[[], float]) -> None:
        self._cooldown = cooldown_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._flight: Flight | None = None
        self._landed_at: float | None = None

    def join(self) -> tuple[Flight, bool] | None:
        """The flight in progress and False; a new one and True (the caller must start it and
        `land` it); or None while the cooldown after the last flight runs."""
        with self._lock:
            if self._flight is not None:
                return self._flight, False
            if self._landed_at is not None and self._clock() - self._landed_at < self._cooldown:
                return None
            self._flight = Flight()
            return self._flight, True

    def land(self, flight: Flight) -> None:
        """End `flight`: the cooldown starts now, and everyone waiting for it wakes."""
        with self._lock:
            if self._flight is flight:
                self._flight = None
                self._landed_at = self._clock()
        flight.landed.set()


class JwksKeySource:
    """Thread-safe JWKS key source; see the module docstring for the caching rules."""

    # A lookup may fetch over the network: callers on an event loop run it in a worker thread
    # (`TokenVerifier.may_block`).
    may_block = True

    def __init__(
        self,
        url: str,
        cache_seconds: float = 300.0,
        cooldown_seconds: float = 30.0,
        timeout: float = 3.0,
        *,
        max_bytes: int = MAX_JWKS_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.url = url
        self._cache_seconds = cache_seconds
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._clock = clock
        # Replaced wholesale, never mutated, so readers need no lock.
        self._keys: Mapping[str, VerificationKey] = {}
        self._fetched_at: float | None = None
        self._schedule = FetchSchedule(cooldown_seconds, clock)

    def key_for(self, kid: str | None) -> VerificationKey:
        if kid is None:
            # With several keys in play, a token must say which one signed it.
            raise Unauthorized()
        key = self._keys.get(kid)
        if key is not None and not self._expired():
            return key
        joined = self._schedule.join()
        if joined is not None:
            flight, started = joined
            if started:
                threading.Thread(
                    target=self._fly, args=(flight,), name="authsvc-jwks-fetch", daemon=True
                ).start()
            if started or key is None:
                # Bounded whatever the fetch does: a slower fetch lands later for the others.
                flight.landed.wait(self._timeout)
            key = self._keys.get(kid)
        if key is None:
            raise Unauthorized()
        return key

    def _expired(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= self._cache_seconds

    def _fly(self, flight: Flight) -> None:
        try:
            keys = self._fetch()
        except (httpx.HTTPError, JwksFetchError, ValueError, RecursionError) as exc:
            # The exception's class and text name the network or format problem, never a key.
            log.warning("JWKS fetch from %s failed (%s: %s)", self.url, type(exc).__name__, exc)
        except Exception:
            # This thread must land its flight whatever happens; the traceback holds no key.
            log.exception("JWKS fetch from %s failed", self.url)
        else:
            self._keys = keys
            self._fetched_at = self._clock()
            log.info("JWKS from %s: %d key(s)", self.url, len(keys))
        finally:
            self._schedule.land(flight)

    def _fetch(self) -> dict[str, VerificationKey]:
        deadline = time.monotonic() + self._timeout
        body = bytearray()
        # Redirects are not followed: the JWKS location is configuration, not something a
        # response may change.
        with (
            httpx.Client(timeout=self._timeout, follow_redirects=False) as client,
            client.stream("GET", self.url, headers={"Accept": "application/json"}) as response,
        ):
            if response.status_code != 200:
                raise JwksFetchError(f"HTTP {response.status_code}")
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > self._max_bytes:
                    raise JwksFetchError(f"larger than {self._max_bytes} bytes")
                if time.monotonic() > deadline:
                    raise JwksFetchError("too slow")
        return parse_jwks(json.loads(body))


def parse_jwks(document: Any) -> dict[str, VerificationKey]:
    """The usable signature keys of a JWKS document by `kid`; `JwksFetchError` if there are none."""
    if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
        raise JwksFetchError("not a JWKS document")
    keys: dict[str, VerificationKey] = {}
    ambiguous: set[str] = set()
    for entry in document["keys"]:
        if not isinstance(entry, dict):
            continue
        try:
            key = key_from_jwk(entry)
        except (ValueError, TypeError) as exc:
            log.debug("JWKS entry skipped: %s", exc)
            continue
        assert key.kid is not None
        if key.kid in keys:
            ambiguous.add(key.kid)
        keys[key.kid] = key
    if ambiguous:
        # Two keys under one kid: trusting either would be a guess, so trust neither.
        log.warning("JWKS repeats kid(s) %s; ignoring them", ", ".join(sorted(ambiguous)))
    usable = {kid: key for kid, key in keys.items() if kid not in ambiguous}
    if not usable:
        raise JwksFetchError("no usable signature keys")
    return usable
