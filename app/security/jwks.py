"""Keys from a JWKS URL, cached by `kid`, with a refresh cooldown that bounds outbound fetches.

Rules, in the order `key_for` applies them:
- a known `kid` in a fresh cache is answered from memory;
- a known `kid` in an expired cache triggers a refresh by whichever caller gets the lock first
  (subject to the cooldown); everyone else keeps using the key in memory rather than wait, so
  removed keys stop working within `cache_seconds` plus one fetch;
- an unknown `kid` triggers a fetch only if `cooldown_seconds` have passed since the last attempt,
  successful or not, so a flood of random `kid`s costs at most one fetch per cooldown window and a
  JWKS endpoint that is down is not hammered;
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
        self._cooldown_seconds = cooldown_seconds
        self._timeout = timeout
        self._max_bytes = max_bytes
        self._clock = clock
        # Replaced wholesale, never mutated, so readers need no lock.
        self._keys: Mapping[str, VerificationKey] = {}
        self._fetched_at: float | None = None
        self._attempted_at: float | None = None
        self._lock = threading.Lock()

    def key_for(self, kid: str | None) -> VerificationKey:
        if kid is None:
            # With several keys in play, a token must say which one signed it.
            raise Unauthorized()
        key = self._keys.get(kid)
        if key is not None:
            if not self._expired() or not self._lock.acquire(blocking=False):
                return key
            try:
                self._refresh_if_cooled_down()
            finally:
                self._lock.release()
        else:
            with self._lock:
                # Another caller may have fetched while this one waited for the lock.
                if kid not in self._keys:
                    self._refresh_if_cooled_down()
        key = self._keys.get(kid)
        if key is None:
            raise Unauthorized()
        return key

    def _expired(self) -> bool:
        return self._fetched_at is None or self._clock() - self._fetched_at >= self._cache_seconds

    def _refresh_if_cooled_down(self) -> None:
        now = self._clock()
        if self._attempted_at is not None and now - self._attempted_at < self._cooldown_seconds:
            return
        self._attempted_at = now
        try:
            keys = self._fetch()
        except (httpx.HTTPError, JwksFetchError, ValueError, RecursionError) as exc:
            # The exception's class and text name the network or format problem, never a key.
            log.warning("JWKS fetch from %s failed (%s: %s)", self.url, type(exc).__name__, exc)
            return
        self._keys = keys
        self._fetched_at = now
        log.info("JWKS from %s: %d key(s)", self.url, len(keys))

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
