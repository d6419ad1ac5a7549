"""The values that cross the engine's boundary: a request in, a response out, and options."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import parse_qsl


class BearerCheck(Protocol):
    """A check of a bearer token beyond its form (`--verify-jwt`, `authsvc.mock.serve.jwt`)."""

    @property
    def may_block(self) -> bool:
        """Whether a check may wait on the network (the server then answers off its loop)."""
        ...

    def failure(self, token: str, path_params: Mapping[str, str]) -> tuple[int, str] | None:
        """None if the token may be used, else (401 or 403, why)."""
        ...


@dataclass(frozen=True)
class MockRequest:
    """An HTTP request as the client sent it: raw (percent-encoded) path and query, body bytes."""

    method: str
    path: str
    query: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    # The peer's address and the scheme it spoke, as the server saw them (the proxy forwards
    # them in X-Forwarded-For / Forwarded); None in-process (the respx router).
    client: str | None = None
    scheme: str = "http"

    @classmethod
    def build(
        cls,
        method: str,
        path: str,
        *,
        query: str = "",
        headers: Iterable[tuple[str, str]] | Mapping[str, str] = (),
        body: bytes = b"",
        client: str | None = None,
        scheme: str = "http",
    ) -> MockRequest:
        """Lower-case header names and join repeated headers, as HTTP allows (RFC 9110 5.3)."""
        pairs = headers.items() if isinstance(headers, Mapping) else headers
        merged: dict[str, str] = {}
        for name, value in pairs:
            key = name.lower()
            merged[key] = f"{merged[key]}, {value}" if key in merged else value
        return cls(method.upper(), path or "/", query, merged, body, client, scheme)

    def query_params(self) -> dict[str, list[str]]:
        """Query values by name, in order, `+` read as a space (as browsers send forms)."""
        params: dict[str, list[str]] = {}
        if not self.query:
            return params
        for name, value in parse_qsl(self.query, keep_blank_values=True):
            params.setdefault(name, []).append(value)
        return params


@dataclass(frozen=True)
class Violation:
    """One problem with a request or response, in Prism's `sl-violations` item shape."""

    location: tuple[str, ...]
    code: str | int | None
    message: str
    severity: str = "Error"

    def as_json(self) -> dict[str, Any]:
        item: dict[str, Any] = {"location": list(self.location), "severity": self.severity}
        if self.code is not None:
            item["code"] = self.code
        item["message"] = self.message
        return item


@dataclass(frozen=True)
class MockResponse:
    """What the client receives; `delay_ms` is how long the adapter waits before sending it."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""
    delay_ms: int = 0
    violations: tuple[Violation, ...] = ()

    def header(self, name: str) -> str | None:
        wanted = name.lower()
        return next((v for k, v in self.headers if k.lower() == wanted), None)

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass(frozen=True)
class MockOptions:
    """Server-wide behaviour; a request's `Prefer` header can override dynamic, seed and delay."""

    dynamic: bool = False
    seed: str | None = None
    cors: bool = True
    errors: bool = False
    ignore_examples: bool = False
    delay_ms: int = 0
    jwt: BearerCheck | None = None
