"""CORS for browser clients: an allowlist of exact origins, nothing for anyone else.

`AUTHSVC_CORS_ORIGINS` names the origins (`https://app.example.com`, no path, no wildcard) whose
pages may call the service. For those:

* a preflight (`OPTIONS` with `Origin` and `Access-Control-Request-Method`) is answered `204` before
  routing and authentication, granting the contract's methods with `Authorization`, `Content-Type`
  (JSON) and `X-Request-ID`, for `MAX_AGE_SECONDS`;
* every other answer, errors included (401, 413, 429, 500, 503 and the HTTP server's own refusals,
  when the request's `Origin` arrived before them), carries `Access-Control-Allow-Origin` with that
  exact origin and exposes `Retry-After`, `X-Request-ID` and `WWW-Authenticate`, so a page sees
  the error instead of "Failed to fetch".

The origin is echoed, never `*`, and credentials are allowed only that way (a wildcard with
credentials is what browsers refuse, and what would let any site ride a user's session). A
preflight from an origin outside the list, or asking for another method or header, is still
`204`, with no grant: the browser then refuses the call. With the list empty (the default) no
answer carries a CORS header, and preflights get that same `204` without a grant.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

MAX_AGE_SECONDS = 600
ALLOWED_HEADERS = ("authorization", "content-type", "x-request-id")
EXPOSED_HEADERS = ("Retry-After", "X-Request-ID", "WWW-Authenticate")
Headers = list[tuple[bytes, bytes]]


@dataclass(frozen=True, slots=True)
class CorsPolicy:
    """Which origins get a grant, for which methods; see the module docstring."""

    origins: frozenset[str] = frozenset()
    methods: tuple[str, ...] = ("GET", "POST", "PATCH")
    _origin_bytes: frozenset[bytes] = field(init=False, repr=False)
    _methods_value: bytes = field(init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_origin_bytes", frozenset(o.encode() for o in self.origins))
        object.__setattr__(self, "_methods_value", ", ".join(self.methods).encode())

    @property
    def enabled(self) -> bool:
        return bool(self.origins)

    def allows(self, origin: bytes | None) -> bool:
        return origin is not None and origin in self._origin_bytes

    def answer_headers(self, origin: bytes | None) -> Headers:
        """The CORS headers of an ordinary answer (any status) to a request from `origin`."""
        if not self._origin_bytes:
            return []
        if origin is None or origin not in self._origin_bytes:
            return [(b"vary", b"Origin")]  # the answer differs by origin: caches must know
        return [
            (b"access-control-allow-origin", origin),
            (b"access-control-allow-credentials", b"true"),
            (b"access-control-expose-headers", ", ".join(EXPOSED_HEADERS).encode()),
            (b"vary", b"Origin"),
        ]

    def preflight_headers(
        self, origin: bytes | None, method: bytes, requested_headers: bytes | None
    ) -> Headers:
        """The headers of the `204` to a preflight: a grant, or only `Vary` when refused."""
        vary = [(b"vary", b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers")]
        requested = _header_names(requested_headers)
        granted = (
            self.allows(origin)
            and method.decode("latin-1").upper() in self.methods
            and requested <= set(ALLOWED_HEADERS)
        )
        if not granted:
            return vary
        assert origin is not None
        return [
            (b"access-control-allow-origin", origin),
            (b"access-control-allow-credentials", b"true"),
            (b"access-control-allow-methods", self._methods_value),
            (b"access-control-allow-headers", b"Authorization, Content-Type, X-Request-ID"),
            (b"access-control-max-age", str(MAX_AGE_SECONDS).encode()),
            *vary,
        ]


def _header_names(value: bytes | None) -> set[str]:
    if not value:
        return set()
    return {n.strip().lower() for n in value.decode("latin-1").split(",") if n.strip()}


def is_preflight(method: str, headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """An `OPTIONS` with `Origin` and `Access-Control-Request-Method` (the Fetch standard's test)."""
    if method != "OPTIONS":
        return False
    names = {name for name, _ in headers}
    return b"origin" in names and b"access-control-request-method" in names


def normalise_origin(value: str) -> str:
    """`scheme://host[:port]` in lower case, as a browser sends it; `ValueError` for anything else."""
    from urllib.parse import urlsplit

    text = value.strip()
    if text in ("*", "null"):
        raise ValueError(f"{text!r} is not allowed: list exact origins (https://app.example.com)")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"{text!r} is not an origin (scheme://host[:port])")
    if parts.path or parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError(f"{text!r} is not an origin: no path, query or credentials")
    try:
        port = parts.port
    except ValueError:
        raise ValueError(f"{text!r} has an invalid port") from None
    default = {"http": 80, "https": 443}[parts.scheme]
    host = parts.hostname if ":" not in parts.hostname else f"[{parts.hostname}]"
    return f"{parts.scheme}://{host}" + (f":{port}" if port not in (None, default) else "")
