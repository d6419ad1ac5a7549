"""Reading a contract's HTTP facts the same way everywhere: which response a status falls under,
and what a server URL is once its variables take their defaults."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit


def response_key(
    responses: Mapping[Any, Any], status: int | str, *, default: bool = True
) -> str | None:
    """The `responses` key documenting `status`: the code itself, else its `NXX` range, else
    `default` (when `default` is true); None when nothing documents it."""
    code = str(status)
    for key in responses:
        if str(key).lower() == code:
            return str(key)
    if f"{code[:1]}XX" in responses:
        return f"{code[:1]}XX"
    return "default" if default and "default" in responses else None


def server_url(server: Mapping[str, Any]) -> str:
    """A Server Object's URL with each `{variable}` replaced by its default."""
    url = str(server.get("url", "/"))
    for name, variable in (server.get("variables") or {}).items():
        if isinstance(variable, Mapping):
            url = url.replace("{" + str(name) + "}", str(variable.get("default", "")))
    return url


def server_path(server: Mapping[str, Any]) -> str:
    """The path part of `server_url` without a trailing slash (`/auth/api/v1`)."""
    return urlsplit(server_url(server)).path.rstrip("/")
