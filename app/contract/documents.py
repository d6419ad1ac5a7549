"""Read one YAML or JSON document into JSON values, safely and fast.

- PyYAML's C loader when the wheel has it (it loads large documents about three times faster than
  the pure-Python one), else the pure-Python SafeLoader; both refuse arbitrary tags.
- Aliases may not blow the document up ("billion laughs", as in CVE-2019-11253): the node graph is
  measured before anything is constructed, and a document whose aliases expand it more than
  tenfold (and by more than `ALIAS_BUDGET` nodes) is refused.
- Mapping keys are strings, as in JSON: a key YAML reads as something else (`200:` unquoted, as
  most hand-written documents have their status codes) becomes the string YAML 1.2 prints for
  it, as Prism's reader makes it (`200` -> `"200"`, `0x1F` -> `"31"`, `true` -> `"true"`, `yes`
  stays `"yes"`), and is marked (`OddKey`) so that the contract's reader can warn about it or, in
  strict mode, refuse it with its JSON pointer. A key that is not a scalar is marked and dropped
  by that reader (Prism drops it).
- Plain scalars are resolved by YAML 1.2's core schema, as Prism's reader (@stoplight/yaml) resolves
  them: `yes`, `on`, `2001-12-14` and `1_000` are strings, `010` is ten, `0o17` fifteen (YAML 1.1,
  PyYAML's default, reads a boolean, a date, a thousand and eight). `<<` merge keys still merge.
- Explicitly tagged scalars that are not JSON types: a `!!timestamp` is an ISO 8601 UTC string
  with milliseconds, as JavaScript's `Date` prints it; `!!binary` stays the base64 text that was
  written (Prism refuses such a document; base64 is what `format: byte` means).
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


class OddKey(str):
    """A mapping key that YAML did not read as a string, spelled as YAML 1.2 prints it.

    `written` is the key as it stands in the file; `integer` says whether YAML reads it as an
    integer (status codes: the usual case); `scalar` is false for a sequence or mapping used as a
    key, which has no string form and is left out.
    """

    written: str
    integer: bool
    scalar: bool

    def __new__(cls, printed: str, *, written: str, integer: bool, scalar: bool = True) -> OddKey:
        key = super().__new__(cls, printed)
        key.written, key.integer, key.scalar = written, integer, scalar
        return key

    def __deepcopy__(self, memo: dict[int, Any]) -> OddKey:
        return self  # immutable, as any string


_STR_TAG = "tag:yaml.org,2002:str"
_INT_PATTERNS = (
    (re.compile(r"[-+]?[0-9]+"), 10, 0),
    (re.compile(r"0o[0-7]+"), 8, 2),
    (re.compile(r"0x[0-9a-fA-F]+"), 16, 2),
)
_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_NUMERIC_START = frozenset("0123456789+-.")
_SPECIAL = {
    **dict.fromkeys(("null", "Null", "NULL", "~", ""), "null"),
    **dict.fromkeys(("true", "True", "TRUE"), "true"),
    **dict.fromkeys(("false", "False", "FALSE"), "false"),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), "Infinity"),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), "-Infinity"),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), "NaN"),
}


def yaml12_key(node: yaml.Node) -> OddKey | None:
    """The key as YAML 1.2's core schema reads it and JavaScript prints it (`String(key)`), which
    is what Prism's reader makes of it; None for a plain string."""
    if not isinstance(node, yaml.ScalarNode):
        return OddKey("", written="(a sequence or mapping)", integer=False, scalar=False)
    text = str(node.value)
    if node.style:  # quoted, with an explicit non-string tag: the text is what was meant
        return None if node.tag == _STR_TAG else OddKey(text, written=text, integer=False)
    for pattern, base, skip in _INT_PATTERNS:
        if pattern.fullmatch(text):
            return OddKey(str(int(text[skip:], base)), written=text, integer=True)
    if text in _SPECIAL:
        return OddKey(_SPECIAL[text], written=text, integer=False)
    if _FLOAT.fullmatch(text):
        return OddKey(js_number(float(text)), written=text, integer=False)
    return None  # a string in YAML 1.2, whatever YAML 1.1 reads (`yes`, `2001-01-01`, `1_000`)


def js_number(value: float) -> str:
    """A finite float as JavaScript's `String(number)` spells it (`1.0` -> `1`, `1e3` -> `1000`)."""
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return repr(value).replace("e-0", "e-").replace("e+0", "e+")


class _Loader(_Base):  # type: ignore[misc,valid-type]
    """The safe loader, with JSON-compatible dates, timestamps and binary scalars, and keys."""

    odd_keys: list[OddKey] | None = None

    def construct_mapping(self, node: yaml.Node, deep: bool = False) -> dict[Any, Any]:
        if not isinstance(node, yaml.MappingNode):
            return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]
        self.flatten_mapping(node)  # `<<` merge keys, as the safe loader reads them
        mapping: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            key: Any = None
            plain = isinstance(key_node, yaml.ScalarNode) and key_node.tag == _STR_TAG
            # Most keys are plain strings; only those that look numeric may read otherwise in 1.2.
            if not plain or (not key_node.style and key_node.value[:1] in _NUMERIC_START):
                key = yaml12_key(key_node)
            if key is None:
                key = key_node.value
            elif self.odd_keys is not None:
                self.odd_keys.append(key)
            mapping[key] = self.construct_object(value_node, deep=deep)
        return mapping


def _timestamp(loader: Any, node: yaml.ScalarNode) -> str:
    value = yaml.SafeLoader.construct_yaml_timestamp(loader, node)
    return iso_utc(value)


def _binary(loader: Any, node: yaml.ScalarNode) -> str:
    return "".join(str(loader.construct_scalar(node)).split())


def _int12(loader: Any, node: yaml.ScalarNode) -> int:
    text = str(loader.construct_scalar(node))
    try:
        if text[:2] in ("0o", "0x"):
            return int(text[2:], 8 if text[1] == "o" else 16)
        return int(text)  # `010` is ten in YAML 1.2
    except ValueError:  # an explicit `!!int` in YAML 1.1's spelling (`0b101`, `1_000`)
        return int(yaml.SafeLoader.construct_yaml_int(loader, node))


def _float12(loader: Any, node: yaml.ScalarNode) -> float:
    text = str(loader.construct_scalar(node))
    special = text.lstrip("+-").lower()
    if special in (".inf", ".nan"):
        value = float(special[1:])
        return -value if text.startswith("-") else value
    try:
        return float(text)
    except ValueError:
        return float(yaml.SafeLoader.construct_yaml_float(loader, node))


# YAML 1.2's core schema (plus merge keys) instead of YAML 1.1's resolvers.
_Loader.yaml_implicit_resolvers = {}
for _tag, _pattern, _first in (
    ("bool", r"^(?:true|True|TRUE|false|False|FALSE)$", "tTfF"),
    ("int", r"^(?:[-+]?[0-9]+|0o[0-7]+|0x[0-9a-fA-F]+)$", "-+0123456789"),
    (
        "float",
        r"^(?:[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?"
        r"|[-+]?\.(?:inf|Inf|INF)|\.(?:nan|NaN|NAN))$",
        "-+0123456789.",
    ),
    ("null", r"^(?:~|null|Null|NULL|)$", ["~", "n", "N", ""]),
    ("merge", r"^(?:<<)$", "<"),
):
    _Loader.add_implicit_resolver(f"tag:yaml.org,2002:{_tag}", re.compile(_pattern), list(_first))
_Loader.add_constructor("tag:yaml.org,2002:int", _int12)
_Loader.add_constructor("tag:yaml.org,2002:float", _float12)
_Loader.add_constructor("tag:yaml.org,2002:timestamp", _timestamp)
_Loader.add_constructor("tag:yaml.org,2002:binary", _binary)


def iso_utc(value: datetime.date) -> str:
    """A date or datetime as JavaScript's `Date.prototype.toISOString` spells it (UTC, ms)."""
    if not isinstance(value, datetime.datetime):
        value = datetime.datetime(value.year, value.month, value.day)
    if value.tzinfo is not None:
        value = value.astimezone(datetime.UTC).replace(tzinfo=None)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def read_document(path: Path, *, odd_keys: list[OddKey] | None = None) -> Any:
    """The document at `path` (JSON by its suffix, YAML otherwise) as JSON values; each key YAML
    did not read as a string is appended to `odd_keys` (when given)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DocumentError(getattr(exc, "strerror", None) or str(exc)) from None
    return parse_document(text, json_only=path.suffix == ".json", odd_keys=odd_keys)


def parse_document(
    text: str, *, json_only: bool = False, odd_keys: list[OddKey] | None = None
) -> Any:
    """Parse YAML (or JSON, which YAML's C loader reads too) with the alias budget enforced."""
    try:
        if json_only:
            return json.loads(text)
        loader = _Loader(text)
        loader.odd_keys = odd_keys
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
