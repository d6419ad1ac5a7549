"""Find the operation a request path and method name, the way Prism's router does.

Paths are matched as written in the contract, at the server root (Prism does not prepend the
server URL's base path); a concrete path beats a templated one, and templated ones are ranked by
segment, left to right, a literal beating a template; `__server` is checked against the
contract's `servers`, with variables read as alternatives of their `enum`.
"""

from __future__ import annotations

import functools
import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

from authsvc.contract import Contract, Operation
from authsvc.mock.engine.problems import (
    NO_METHOD_MATCHED,
    NO_PATH_MATCHED,
    NO_SERVER_CONFIGURATION,
    NO_SERVER_MATCHED,
    MockProblem,
)

_TEMPLATE = re.compile(r"\{([^}]+)\}")


@dataclass(frozen=True)
class Route:
    """One operation with its path compiled to per-segment matchers."""

    operation: Operation
    segments: tuple[re.Pattern[str] | str, ...]
    servers: tuple[Mapping[str, Any], ...]
    templated: bool = field(init=False)

    def __post_init__(self) -> None:
        templated = any(not isinstance(s, str) for s in self.segments)
        object.__setattr__(self, "templated", templated)

    def score(self, parts: Sequence[str]) -> float:
        """Prism's match score of a request path (literal segment 1, template 0.5)."""
        score = 0.0
        for segment, raw in zip(self.segments, parts, strict=False):
            if not isinstance(segment, str):
                score += 0.5
            elif segment == raw:
                score += 1
            else:
                break
        return score

    def match(self, parts: Sequence[str]) -> dict[str, str] | None:
        """The raw (still encoded) path parameters, or None when the path does not fit."""
        if len(parts) != len(self.segments):
            return None
        params: dict[str, str] = {}
        for segment, raw in zip(self.segments, parts, strict=True):
            if isinstance(segment, str):
                if segment != raw and segment != unquote(raw):
                    return None
                continue
            found = segment.fullmatch(raw)
            if found is None:
                return None
            params.update(found.groupdict())
        return params


@dataclass(frozen=True)
class RouteMatch:
    operation: Operation
    raw_path_params: dict[str, str]


def normalise_path(raw_path: str) -> str:
    """Resolve dot segments as URL parsers do (`/a/b/../c` is `/a/c`); keep a trailing slash."""
    if not raw_path.startswith("/"):
        raw_path = "/" + raw_path
    if "//" not in raw_path and "/." not in raw_path:
        return raw_path  # nothing to resolve: what normpath (plus the trailing slash) would give
    resolved = posixpath.normpath(raw_path)
    if resolved.startswith("//"):
        resolved = "/" + resolved.lstrip("/")
    if raw_path.endswith("/") and resolved != "/" and not raw_path.endswith(("/.", "/..")):
        resolved += "/"
    return resolved


class Router:
    """Routes of one contract, compiled once."""

    def __init__(self, contract: Contract) -> None:
        root_servers = tuple(contract.resolved.get("servers") or ())
        paths = contract.resolved.get("paths") or {}
        routes = []
        for op in contract.operations():
            servers = op.spec.get("servers") or (paths.get(op.path) or {}).get("servers")
            routes.append(Route(op, _compile(op.path), tuple(servers or root_servers)))
        self.routes: tuple[Route, ...] = tuple(routes)
        # A path only fits routes with as many segments; each group keeps document order.
        self._by_length: dict[int, list[Route]] = {}
        for route in self.routes:
            self._by_length.setdefault(len(route.segments), []).append(route)

    def match(self, method: str, raw_path: str, server_url: str | None = None) -> RouteMatch:
        """The operation for this request, or the 404/405 problem Prism answers with."""
        path = normalise_path(raw_path)
        parts = path.split("/")[1:]
        routes = self._by_length.get(len(parts), ())
        candidates = [(r, p) for r in routes if (p := r.match(parts)) is not None]
        if not candidates:
            raise MockProblem(
                NO_PATH_MATCHED, f"The route {path} hasn't been found in the specification file"
            )
        by_method = [(r, p) for r, p in candidates if r.operation.method == method.lower()]
        if not by_method:
            # RFC 9110 15.5.6 requires Allow on a 405 (Prism omits it; clients and checkers use it).
            allowed = ", ".join(sorted({r.operation.method.upper() for r, _ in candidates}))
            raise MockProblem(
                NO_METHOD_MATCHED,
                f"The route {path} has been matched, but it does not have "
                f'"{method.lower()}" method defined',
                headers={"Allow": allowed},
            )
        if server_url:
            if all(not r.servers for r in self.routes):
                raise MockProblem(
                    NO_SERVER_CONFIGURATION,
                    "No server configuration has been provided, although "
                    f"{server_url} is set as server url",
                )
            by_method = [(r, p) for r, p in by_method if _server_matches(r.servers, server_url)]
            if not by_method:
                raise MockProblem(
                    NO_SERVER_MATCHED,
                    f"The server url {server_url} hasn't been matched with any of the provided "
                    "servers",
                )
        if len(by_method) == 1:
            route, params = by_method[0]
            return RouteMatch(route.operation, params)
        # Prism ranks routes by segments, left to right (a literal 1, a template 1/2, stop at
        # the first literal that differs), best first; equal scores in reverse document order
        # (its stable ascending sort, reversed). It then takes the first concrete path, else
        # the first templated one: `/c/1/show.json` goes to `/c/{id}/show.json`, not to
        # `/c/{slug}/{id}.json`.
        ranked = sorted(by_method[::-1], key=lambda rp: rp[0].score(parts), reverse=True)
        route, params = next((rp for rp in ranked if not rp[0].templated), ranked[0])
        return RouteMatch(route.operation, params)


def _compile(path: str) -> tuple[re.Pattern[str] | str, ...]:
    segments: list[re.Pattern[str] | str] = []
    for segment in path.split("/")[1:]:
        if not _TEMPLATE.search(segment):
            segments.append(segment)
            continue
        pattern, last = "", 0
        for found in _TEMPLATE.finditer(segment):
            pattern += re.escape(segment[last : found.start()])
            pattern += f"(?P<{_group_name(found.group(1))}>.*)"
            last = found.end()
        segments.append(re.compile(pattern + re.escape(segment[last:])))
    return tuple(segments)


def _group_name(name: str) -> str:
    # Regex group names must be identifiers; parameter names like `user-id` are encoded reversibly.
    return "p_" + "".join(c if c.isalnum() else f"_{ord(c):x}_" for c in name)


@functools.lru_cache(maxsize=1024)
def param_name(group: str) -> str:
    """The parameter name a compiled group stands for."""
    return re.sub(r"_([0-9a-f]+)_", lambda m: chr(int(m.group(1), 16)), group[2:])


def _server_matches(servers: Sequence[Mapping[str, Any]], url: str) -> bool:
    for server in servers:
        template = str(server.get("url", ""))
        variables = server.get("variables") or {}
        pattern, last = "", 0
        for found in _TEMPLATE.finditer(template):
            pattern += re.escape(template[last : found.start()])
            enum = (variables.get(found.group(1)) or {}).get("enum")
            options = sorted((str(e) for e in enum or ()), key=len, reverse=True)
            pattern += "(" + "|".join(map(re.escape, options)) + ")" if options else "(.*?)"
            last = found.end()
        if re.fullmatch(pattern + re.escape(template[last:]), url):
            return True
    return False
