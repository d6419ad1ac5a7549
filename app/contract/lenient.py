"""The lenient reader: a document Prism serves is served, and what is wrong with it is said once.

Prism checks nothing when it loads a document: it reads what it can (@stoplight/http-spec skips
what it cannot read) and serves that. Frontend teams mock the documents they already have, with
`200:` unquoted, no `info`, a parameter without `schema`, a vendor keyword where the OpenAPI
schema allows none. So the mock reads leniently by default (`load_contract(..., lenient=True)`):

- keys YAML did not read as strings are the strings YAML 1.2 prints (`documents.OddKey`): an
  integer (a status code) silently, anything else with a problem;
- every error of the spec validator becomes a `Problem` (once per JSON pointer);
- the parts Prism cannot use either are left out, each with a problem (`repair`): a path item,
  operation, parameter, response or security scheme that is not an object, a parameter without
  a name or location, a response key that is no status code;
- schemas stay as written; one that is not valid JSON Schema validates nothing (`tolerant`),
  because Prism's ajv refuses to compile it and Prism then checks nothing against it.

The service, and the mock with `--strict`, refuse such a document instead (the first problem is
the `ContractError`). The refusals that protect against hostile documents ($ref cycles, alias
bombs, files outside the folder, remote references) are the same in both modes.

In-process users see each problem as a `ContractWarning`; `authsvc mock` prints them on stderr.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from jsonschema.exceptions import ValidationError, best_match
from jsonschema.protocols import Validator
from jsonschema.validators import validator_for

from authsvc.contract.documents import OddKey, js_number

HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_LOCATIONS = {
    "3": ("query", "header", "path", "cookie"),
    "2": ("query", "header", "path", "body", "formData"),
}
_STATUS = re.compile(r"default|[1-5](\d\d|XX)")
_MAX_MESSAGE = 200


class ContractWarning(UserWarning):
    """A problem in a contract that the lenient reader tolerates (as Prism does): the message
    names the file and the JSON pointer. Filter it by this class to silence it."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a document; `quiet` ones (integer YAML keys) are only refused by the
    strict reader, never reported by the lenient one."""

    pointer: str
    message: str
    quiet: bool = False

    def __str__(self) -> str:
        return f"{self.pointer or '/'}: {self.message}"


def pointer(parts: Iterable[Any]) -> str:
    """A JSON pointer (RFC 6901) from path parts."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


def warn_problems(source: str, problems: Sequence[Problem], *, stacklevel: int = 3) -> None:
    """Each problem as a `ContractWarning` naming the file and pointer."""
    for problem in problems:
        warnings.warn(ContractWarning(f"{source}: {problem}"), stacklevel=stacklevel)


# --- keys --------------------------------------------------------------------------------------


def normalise_keys(document: Any) -> list[Problem]:
    """Replace every `OddKey` by the plain string it spells, in place; a problem for each (quiet
    for an integer written as YAML 1.2 prints it, such as `200`). Non-scalar keys are dropped."""
    problems: list[Problem] = []
    seen: set[int] = set()
    stack: list[tuple[Any, tuple[Any, ...]]] = [(document, ())]
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, list):
            stack.extend((item, (*path, i)) for i, item in enumerate(node))
            continue
        if not isinstance(node, dict):
            continue
        if any(type(key) is not str for key in node):
            items = list(node.items())
            node.clear()
            for key, value in items:
                if not isinstance(key, str):
                    key = _odd(key)
                if isinstance(key, OddKey):
                    problems.append(_key_problem(key, (*path, str(key))))
                    if not key.scalar:
                        continue
                    key = str(key)
                if key in node:
                    problems.append(Problem(pointer((*path, key)), "duplicate key: the last wins"))
                node[key] = value
        stack.extend((value, (*path, key)) for key, value in node.items())
    return sorted(problems, key=lambda p: p.pointer)


def _odd(key: Any) -> OddKey:
    """A non-string key of a document given as a Python mapping, as JavaScript prints it."""
    if isinstance(key, bool) or key is None:
        return OddKey(json.dumps(key), written=repr(key), integer=False)
    if isinstance(key, int):
        return OddKey(str(key), written=str(key), integer=True)
    if isinstance(key, float):
        return OddKey(js_number(key), written=repr(key), integer=False)
    return OddKey(str(key), written=repr(key), integer=False)


def _key_problem(key: OddKey, path: tuple[Any, ...]) -> Problem:
    if not key.scalar:
        return Problem(pointer(path[:-1]), "a key that is a sequence or mapping is left out")
    if key.integer and key == key.written:
        return Problem(pointer(path), f"key {key.written} is an integer, not a string", quiet=True)
    return Problem(pointer(path), f"key {key.written} is read as the string {str(key)!r}")


# --- the spec validator's findings ------------------------------------------------------------


def spec_problems(
    validator: Any, document: Any, meta_schema: Mapping[str, Any] | None
) -> list[Problem]:
    """Every error the spec validator reports, once per pointer, each in one line.

    The whole-document check (jsonschema-rs) reports a failed `oneOf` with the instance and no
    detail; the same part is checked again with Python's jsonschema against the OpenAPI schema
    (`meta_schema`), whose best match names the deeper pointer and what is wrong there.
    """
    problems: dict[str, Problem] = {}
    try:
        for error in validator.iter_errors():
            found = _describe(error, document, meta_schema)
            problems.setdefault(found.pointer, found)
    except Exception as exc:  # the validator follows the document itself and may trip on it
        problems.setdefault("", Problem("", f"not fully checked: {_line(exc)}"))
    return list(problems.values())


_UNRESOLVED = re.compile(r"Path parameter '(.*)' for '(\w+)' operation in '(.*)' was not resolved")


def _describe(error: Exception, document: Any, meta_schema: Mapping[str, Any] | None) -> Problem:
    if not isinstance(error, ValidationError):
        return Problem("", _line(error))
    message = _line(error.message)
    unresolved = _UNRESOLVED.fullmatch(message)
    if unresolved is not None:
        name, method, path = unresolved.groups()
        where = pointer(("paths", path, method))
        return Problem(where, f"path parameter {name!r} is not declared")
    path = list(error.absolute_path)
    deeper = _deeper(error, _at(document, path), meta_schema)
    if deeper is not None:
        more, message = deeper
        path += more
    elif message.startswith(("{", "[")) and " is " in message:
        message = "the value" + message[message.index(" is ") :]  # not the whole instance
    return Problem(pointer(path), _short(message))


def _deeper(
    error: ValidationError, instance: Any, meta_schema: Mapping[str, Any] | None
) -> tuple[list[Any], str] | None:
    """(path below the error, message) from the OpenAPI schema's own best match."""
    if meta_schema is None or not error.schema_path:
        return None
    node: Any = meta_schema
    for part in list(error.schema_path)[:-1]:  # the last part is the failed keyword itself
        if (isinstance(node, list) and isinstance(part, int) and part < len(node)) or (
            isinstance(node, Mapping) and part in node
        ):
            node = node[part]
        else:
            return None
    if not isinstance(node, Mapping):
        return None
    try:
        checker: Validator = validator_for(meta_schema)(meta_schema)
        errors = list(checker.evolve(schema=node).iter_errors(instance))
    except Exception:
        return None
    found = best_match(errors)
    while found is not None and found.context:
        found = best_match(found.context)
    if found is None:
        return None
    return list(found.absolute_path), _line(found.message)


def _at(document: Any, path: Sequence[Any]) -> Any:
    for part in path:
        try:
            document = document[part]
        except (KeyError, IndexError, TypeError):
            try:
                document = document[str(part)]
            except (KeyError, IndexError, TypeError):
                return None
    return document


def _line(value: object) -> str:
    return (str(value).strip().splitlines() or ["invalid"])[0]


def _short(message: str) -> str:
    return message if len(message) <= _MAX_MESSAGE else message[: _MAX_MESSAGE - 3] + "..."


# --- repairs -----------------------------------------------------------------------------------


def repair(document: dict[str, Any], *, swagger: bool) -> list[Problem]:
    """Leave out, in place, what Prism cannot use either (http-spec skips it), with a problem
    each: what remains has the shapes the plan compiler and the mock read."""
    fixer = _Repair(locations=_LOCATIONS["2" if swagger else "3"])
    fixer.root(document)
    return fixer.problems


class _Repair:
    def __init__(self, *, locations: tuple[str, ...]) -> None:
        self.problems: list[Problem] = []
        self._locations = locations

    def _drop(self, path: tuple[Any, ...], why: str) -> None:
        self.problems.append(Problem(pointer(path), f"{why}: left out"))

    def _mapping(self, parent: dict[str, Any], key: str, path: tuple[Any, ...]) -> Any:
        """`parent[key]` if it is an object; dropped (with a problem) if present otherwise."""
        value = parent.get(key)
        if isinstance(value, dict) or key not in parent:
            return value
        del parent[key]
        self._drop((*path, key), "not an object")
        return None

    def _list(self, parent: dict[str, Any], key: str, path: tuple[Any, ...]) -> Any:
        value = parent.get(key)
        if isinstance(value, list) or key not in parent:
            return value
        del parent[key]
        self._drop((*path, key), "not a list")
        return None

    def _entries(self, parent: dict[str, Any], key: str, path: tuple[Any, ...]) -> dict[str, Any]:
        """`parent[key]` as a map whose values are all objects (the others left out)."""
        found = self._mapping(parent, key, path)
        if found is None:
            return {}
        for name in [n for n, v in found.items() if not isinstance(v, dict)]:
            del found[name]
            self._drop((*path, key, name), "not an object")
        return found  # type: ignore[no-any-return]

    def _items(self, parent: dict[str, Any], key: str, path: tuple[Any, ...]) -> list[Any]:
        found = self._list(parent, key, path)
        if found is None:
            return []
        kept = [item for item in found if isinstance(item, dict)]
        if len(kept) != len(found):
            self._drop((*path, key), "an item that is not an object")
            found[:] = kept
        return found  # type: ignore[no-any-return]

    def _booleans(self, node: dict[str, Any], path: tuple[Any, ...], *keys: str) -> None:
        for key in keys:
            if key in node and not isinstance(node[key], bool):
                del node[key]
                self._drop((*path, key), "not a boolean")

    def root(self, document: dict[str, Any]) -> None:
        self._servers(document, ())
        self._security(document, ())
        components = self._mapping(document, "components", ())
        if components is not None:
            self._entries(components, "securitySchemes", ("components",))
        self._entries(document, "securityDefinitions", ())
        for path, item in self._entries(document, "paths", ()).items():
            where = ("paths", path)
            self._parameters(item, where)
            self._servers(item, where)
            for method in HTTP_METHODS:
                if method not in item:
                    continue
                operation = self._mapping(item, method, where)
                if operation is not None:
                    self._operation(operation, (*where, method))

    def _servers(self, node: dict[str, Any], path: tuple[Any, ...]) -> None:
        servers = self._items(node, "servers", path)
        kept = [s for s in servers if isinstance(s.get("url"), str)]
        if len(kept) != len(servers):
            self._drop((*path, "servers"), "a server without a URL")
            servers[:] = kept
        for index, server in enumerate(servers):
            self._entries(server, "variables", (*path, "servers", index))

    def _security(self, node: dict[str, Any], path: tuple[Any, ...]) -> None:
        self._items(node, "security", path)

    def _operation(self, operation: dict[str, Any], path: tuple[Any, ...]) -> None:
        self._parameters(operation, path)
        self._servers(operation, path)
        self._security(operation, path)
        self._booleans(operation, path, "deprecated")
        for key in ("consumes", "produces", "schemes"):
            self._list(operation, key, path)
        body = self._mapping(operation, "requestBody", path)
        if body is not None:
            self._booleans(body, (*path, "requestBody"), "required")
            self._content(body, (*path, "requestBody"))
        responses = self._entries(operation, "responses", path)
        for code in [c for c in responses if not _STATUS.fullmatch(str(c))]:
            del responses[code]
            self._drop((*path, "responses", code), "not a status code")
        for code, response in responses.items():
            where = (*path, "responses", code)
            self._content(response, where)
            for name, header in self._entries(response, "headers", where).items():
                self._schema(header, (*where, "headers", name))
            self._mapping(response, "examples", where)

    def _parameters(self, node: dict[str, Any], path: tuple[Any, ...]) -> None:
        params = self._items(node, "parameters", path)
        kept = []
        for index, param in enumerate(params):
            where = (*path, "parameters", index)
            if not isinstance(param.get("name"), str) or param.get("in") not in self._locations:
                self._drop(where, "a parameter without a name or a known location")
                continue
            self._booleans(param, where, "required", "deprecated", "explode", "allowReserved")
            if "style" in param and not isinstance(param["style"], str):
                del param["style"]
                self._drop((*where, "style"), "not a string")
            self._schema(param, where)
            self._content(param, where)
            kept.append(param)
        if len(kept) != len(params):
            params[:] = kept

    def _content(self, node: dict[str, Any], path: tuple[Any, ...]) -> None:
        for media, content in self._entries(node, "content", path).items():
            where = (*path, "content", media)
            self._schema(content, where)
            self._entries(content, "examples", where)
            self._entries(content, "encoding", where)

    def _schema(self, node: dict[str, Any], path: tuple[Any, ...]) -> None:
        if "schema" in node and not isinstance(node["schema"], (dict, bool)):
            del node["schema"]
            self._drop((*path, "schema"), "not a schema")


# --- schemas Prism cannot compile ---------------------------------------------------------------


class AcceptAll:
    """The validator of a schema that is not valid JSON Schema: nothing is checked against it,
    as Prism (whose ajv refuses to compile such a schema) checks nothing."""

    def __init__(self, schema: Any) -> None:
        self.schema = schema

    def iter_errors(self, instance: Any) -> Iterator[ValidationError]:
        return iter(())

    def is_valid(self, instance: Any) -> bool:
        return True

    def evolve(self, **changes: Any) -> AcceptAll:
        return AcceptAll(changes.get("schema", self.schema))


class Tolerant:
    """A validator whose failures (a pattern Python cannot compile, a keyword of the wrong type
    deep inside) mean "nothing checked" rather than an exception in the middle of an answer."""

    def __init__(self, validator: Validator) -> None:
        self._validator = validator
        self.schema = validator.schema

    def iter_errors(self, instance: Any) -> Iterator[ValidationError]:
        try:
            found = list(self._validator.iter_errors(instance))
        except RecursionError:
            raise  # the mock reports too-deep values itself
        except Exception:
            return iter(())
        return iter(found)

    def is_valid(self, instance: Any) -> bool:
        return next(self.iter_errors(instance), None) is None

    def evolve(self, **changes: Any) -> Tolerant:
        return Tolerant(self._validator.evolve(**changes))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._validator, name)


def tolerant(cls: Any, schema: Any, **options: Any) -> Any:
    """A validator of `cls` for `schema`, or `AcceptAll` when `schema` is not valid JSON Schema
    of that dialect (Prism's ajv would not compile it), guarded either way by `Tolerant`."""
    try:
        cls.check_schema(schema)
    except Exception:
        return AcceptAll(schema)
    return Tolerant(cls(schema, **options))
