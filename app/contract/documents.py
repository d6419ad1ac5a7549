"""Read one YAML or JSON document into JSON values, safely and fast.

- PyYAML's C loader when the wheel has it (it loads large documents about three times faster than
  the pure-Python one), else the pure-Python SafeLoader; both refuse arbitrary tags.
- Aliases may not blow the document up ("billion laughs", as in CVE-2019-11253): the node graph is
  measured before anything is constructed, and a document whose aliases expand it more than
  tenfold (and by more than `ALIAS_BUDGET` nodes) is refused.
- Scalars that YAML resolves to non-JSON types are turned into what Prism (js-yaml, then
  `JSON.stringify`) serves: a date or timestamp is an ISO 8601 UTC string with milliseconds
  (`1981-12-15` -> `"1981-12-15T00:00:00.000Z"`). `!!binary` stays the base64 text that was written
  (Prism would serve a Uint8Array as an object of byte values; base64 is what `format: byte` means).
"""

from __future__ import annotations

import datetime
import json
import re
from pathlib import Path
from typing import Any

import yaml

# Nodes that aliases may add to a document beyond its own size (see `_check_aliases`).
ALIAS_BUDGET = 100_000
ALIAS_GROWTH = 10

# An anchor (`&name`) starts a token: after a line start, a space or a flow indicator.
_MAY_HAVE_ANCHORS = re.compile(r"(?:^|[\s\[{,])&[^\s\[\]{},]", re.MULTILINE)

_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class DocumentError(ValueError):
    """The file cannot be read as a JSON value; the message is one line."""


class _Loader(_Base):  # type: ignore[misc,valid-type]
    """The safe loader, with JSON-compatible dates, timestamps and binary scalars."""


def _timestamp(loader: Any, node: yaml.ScalarNode) -> str:
    value = yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    return iso_utc(value)


def _binary(loader: Any, node: yaml.ScalarNode) -> str:
    return "".join(str(loader.construct_scalar(node)).split())


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)
_Loader.add_constructor("tag:yaml.org,2002:binary", _binary)


def iso_utc(value: datetime.date) -> str:
    """A date or datetime as JavaScript's `Date.prototype.toISOString` spells it (UTC, ms)."""
    if not isinstance(value, datetime.datetime):
        value = datetime.datetime(value.year, value.month, value.day)
    if value.tzinfo is not None:
        value = value.astimezone(datetime.UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def read_document(path: Path) -> Any:
    """The document at `path` (JSON by its suffix, YAML otherwise) as JSON values."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DocumentError(getattr(exc, "strerror", None) or str(exc)) from None
    return parse_document(text, json_only=path.suffix == ".json")


def parse_document(text: str, *, json_only: bool = False) -> Any:
    """Parse YAML (or JSON, which YAML's C loader reads too) with the alias budget enforced."""
    try:
        if json_only:
            return json.loads(text)
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            if node is None:
                return None
            if _MAY_HAVE_ANCHORS.search(text):  # no anchor, no alias: nothing to measure
                _check_aliases(node)
            return loader.construct_document(node)
        finally:
            loader.dispose()
    except (yaml.YAMLError, json.JSONDecodeError) as exc:
        first = str(exc).strip().splitlines()
        message = " ".join(line.strip() for line in first)
        raise DocumentError(f"not valid YAML/JSON: {message}") from None
    except RecursionError:
        raise DocumentError("the document is nested too deeply") from None


def _check_aliases(root: yaml.Node) -> None:
    """Refuse a node graph whose expansion (aliases followed) outgrows the budget.

    Sizes are computed once per distinct node, so this costs time linear in the document as
    written, never in its expansion.
    """
    sizes: dict[int, int] = {}
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    on_path: set[int] = set()
    while stack:
        node, children_done = stack.pop()
        key = id(node)
        if children_done:
            on_path.discard(key)
            sizes[key] = 1 + sum(sizes[id(child)] for child in _children(node))
            continue
        if key in sizes:
            continue
        if key in on_path:
            raise DocumentError("a YAML alias refers to the node that contains it")
        on_path.add(key)
        stack.append((node, True))
        stack.extend((child, False) for child in _children(node) if id(child) not in sizes)
    expanded, distinct = sizes[id(root)], len(sizes)
    if expanded - distinct > max(ALIAS_BUDGET, (ALIAS_GROWTH - 1) * distinct):
        raise DocumentError(
            f"YAML aliases expand {distinct} nodes to {expanded}: refused (alias bomb?)"
        )


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [item for pair in node.value for item in pair]
    return []
