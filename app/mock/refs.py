"""The `$ref`s the loader leaves in place: cyclic ones, which the mock follows lazily."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote


def resolve_ref(root: Mapping[str, Any], ref: str) -> Any:
    """Follow a local `#/a/b` pointer in the resolved document; an unknown one is `{}`."""
    node: Any = root
    for token in ref.partition("#")[2].split("/"):
        if not token:
            continue
        token = unquote(token).replace("~1", "/").replace("~0", "~")
        if isinstance(node, Mapping) and token in node:
            node = node[token]
        elif isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        else:
            return {}
    return node
