"""Stateful answers: create, list, read, update, replace, delete and actions on stored items.

The engine asks this module for the body of a valid request to a mapped operation (no `Prefer`
code or example): it reads or changes the session's `SessionState` and returns the negotiated
response with the body to serve. The body starts from the response's own example (or sample, or
generated value in dynamic mode) with the stored item or list put where the schema carries it,
so the envelope stays the contract's; the engine then checks the answer against the contract as
it checks every other one. Business rules beyond the contract are not simulated unless an
`x-mock-*` extension states them (docs/mock.md, "Stateful mode").
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import uuid
from collections.abc import Callable, Mapping, Sequence
from typing import Any
from urllib.parse import unquote

from authsvc.contract import Contract, Operation
from authsvc.mock.engine.media import is_json
from authsvc.mock.engine.model import MockRequest
from authsvc.mock.engine.negotiation import NO_EXAMPLE, Negotiated, find_response, for_valid_request
from authsvc.mock.engine.problems import NOT_FOUND, MockProblem
from authsvc.mock.engine.render import Renderer
from authsvc.mock.engine.resources import (
    Binding,
    Pointer,
    Resource,
    find_id_pointer,
    find_item_pointer,
    id_candidates,
    infer,
)
from authsvc.mock.engine.sampler import sample
from authsvc.mock.engine.store import SessionState, load_fixture

# Query parameters read as pagination, by the role they play (first name present wins).
_PAGE = ("page", "page_number", "pageNumber")
_SIZE = ("items_per_page", "per_page", "page_size", "pageSize", "size", "limit")
_OFFSET = ("offset", "skip", "start")
_SEARCH = ("search", "q", "query", "filter")
_TOTAL_ITEMS = ("total_items", "totalItems", "total", "total_count", "totalCount", "count")
_TOTAL_PAGES = ("total_pages", "totalPages", "pages", "page_count", "pageCount")

Answer = tuple[Negotiated, Any]


class StatefulMode:
    """The resources of one contract and the rules that answer their operations from state."""

    def __init__(
        self, contract: Contract, renderer: Renderer, checker_of: Callable[[Operation], Any]
    ) -> None:
        self._contract = contract
        self._renderer = renderer
        self._checker_of = checker_of  # the operation's ResponseChecker, compiled by the engine
        self._ops = {(op.path, op.method): op for op in contract.operations()}
        # A resource whose item the item GET's schema does not show is left to the static mock.
        self.bindings: dict[tuple[str, str], Binding] = {
            key: b for key, b in infer(contract).items() if b.resource.item_pointer is not None
        }
        self.resources: tuple[Resource, ...] = tuple(
            {id(b.resource): b.resource for b in self.bindings.values()}.values()
        )
        self._pointers: dict[tuple[str, str, int], tuple[Pointer | None, Pointer | None]] = {}
        self._bases: dict[str, Any] = {}

    # --- state from the contract and from fixtures ---------------------------------------

    def initial_state(self) -> SessionState:
        """Items of the contract's examples (item GET, then list), under the parent path
        parameters' example values (else their sampled values)."""
        state = SessionState()
        for resource in self.resources:
            scope = tuple(self._param_example(resource, name) for name in resource.parents)
            found: dict[str, Any] = {}
            listing = self._example((resource.collection_path, "get"))
            if listing is not NO_EXAMPLE and resource.list_pointer is not None:
                for item in _get(listing, resource.list_pointer) or ():
                    if isinstance(item, Mapping) and resource.id_property in item:
                        found[str(item[resource.id_property])] = item
            single = self._example((resource.item_path, "get"))
            item = _get(single, resource.item_pointer or ()) if single is not NO_EXAMPLE else None
            if isinstance(item, Mapping) and resource.id_property in item:
                found[str(item[resource.id_property])] = item  # the complete one wins
            for item_id, value in found.items():
                state.put(resource, scope, item_id, copy.deepcopy(value))
        return state

    def load(self, document: Any) -> SessionState:
        """A state fixture (docs/mock.md's format) read against this contract's resources."""
        return load_fixture(document, self.resources)

    # --- answers -------------------------------------------------------------------------

    def answer(
        self,
        op: Operation,
        raw_path_params: Mapping[str, str],
        request: MockRequest,
        state: SessionState,
        *,
        dynamic: bool,
        seed: str | None,
        accept: str | None,
    ) -> Answer | None:
        """The response and body for this request from `state` (changing it), or None when
        the operation is not mapped and answers as a stateless mock."""
        binding = self.bindings.get((op.path, op.method))
        if binding is None:
            return None
        chosen = for_valid_request(
            op.responses, op.method, code=None, example=None, dynamic=dynamic, accept=accept
        )
        if chosen.media_type is not None and not is_json(chosen.media_type):
            return None
        resource = binding.resource
        params = {name: unquote(value) for name, value in raw_path_params.items()}
        scope = resource.scope(params)
        role = binding.role
        if role in ("create", "update", "replace"):
            body = _json_body(request)
            if not isinstance(body, dict):
                return None  # a form or empty body: nothing to store, answer as today
        if role == "create":
            item = _merge(_merge(self._base(resource), resource.defaults), body)
            item_id = self._new_id(resource, state)
            item[resource.id_property] = item_id
            state.put(resource, scope, str(item_id), item)
            return chosen, self._with_item(op, chosen, resource, item, dynamic, seed)
        if role == "list":
            return chosen, self._listing(op, chosen, resource, state, scope, request, dynamic, seed)
        if role == "action":
            return self._action(op, chosen, binding, params, scope, state, dynamic, seed)
        item_id = params.get(resource.id_param, "")
        item = state.find(resource, scope, item_id)
        if item is None:
            return self._not_found(op, resource, item_id, dynamic, accept)
        if role == "delete":
            state.remove(resource, scope, item_id)
            return chosen, self._template(op, chosen, dynamic, seed)
        if role in ("update", "replace"):
            start = item if role == "update" else self._base(resource)
            # The id is the path's, whatever the body says.
            item = {**_merge(start, body), resource.id_property: item[resource.id_property]}
            state.put(resource, scope, item_id, item)
        return chosen, self._with_item(op, chosen, resource, item, dynamic, seed)

    def _action(
        self,
        op: Operation,
        chosen: Negotiated,
        binding: Binding,
        params: Mapping[str, str],
        scope: tuple[str, ...],
        state: SessionState,
        dynamic: bool,
        seed: str | None,
    ) -> Answer | None:
        resource, action = binding.resource, binding.action
        assert action is not None
        target: tuple[tuple[str, ...], str, Any] | None
        if action.by_path:
            item_id = params.get(resource.id_param, "")
            item = state.find(resource, scope, item_id)
            if item is None:
                return self._not_found(op, resource, item_id, dynamic, None)
            target = (scope, item_id, item) if _matches(item, action.when) else None
        else:
            # A path value that names a matching item picks it (a frontend may accept the invite
            # "of" a user it created by sending that user's id as the token); else the first.
            named = set(params.values())
            matching = [
                (s, i, v) for s, i, v in state.everywhere(resource) if _matches(v, action.when)
            ]
            target = next((m for m in matching if m[1] in named), matching[0] if matching else None)
            if target is None:
                return None  # nothing the action applies to: the contract's answer, as today
        if target is not None:
            found_scope, item_id, item = target
            state.put(resource, found_scope, item_id, _merge(item, action.set))
        return chosen, self._template(op, chosen, dynamic, seed)

    def _not_found(
        self, op: Operation, resource: Resource, item_id: str, dynamic: bool, accept: str | None
    ) -> Answer:
        """The contract's 404 (or `default`), else an invented one as Prism invents errors."""
        if find_response(op.responses, 404) is None and "default" not in op.responses:
            raise MockProblem(
                NOT_FOUND,
                f"No item of {resource.item_path} has {resource.id_param} {item_id} in this "
                "mock session",
            )
        chosen = for_valid_request(
            op.responses, op.method, code=404, example=None, dynamic=dynamic, accept=accept
        )
        return chosen, NO_EXAMPLE

    # --- bodies --------------------------------------------------------------------------

    def _template(self, op: Operation, chosen: Negotiated, dynamic: bool, seed: str | None) -> Any:
        value, has_body = self._renderer.value(
            self._checker_of(op), chosen, dynamic=dynamic, seed=seed
        )
        return copy.deepcopy(value) if has_body else NO_EXAMPLE

    def _with_item(
        self,
        op: Operation,
        chosen: Negotiated,
        resource: Resource,
        item: Any,
        dynamic: bool,
        seed: str | None,
    ) -> Any:
        template = self._template(op, chosen, dynamic, seed)
        if template is NO_EXAMPLE:
            return NO_EXAMPLE
        item_at, id_at = self._where(op, chosen, resource)
        if item_at is not None:
            return _put(template, item_at, copy.deepcopy(item))
        if id_at is not None:
            return _put(template, id_at, item[resource.id_property])
        return template

    def _where(
        self, op: Operation, chosen: Negotiated, resource: Resource
    ) -> tuple[Pointer | None, Pointer | None]:
        """Where this response carries the whole item, else the id alone."""
        key = (op.path, op.method, chosen.status)
        if key not in self._pointers:
            refs = self._contract.refs
            item_at = find_item_pointer(chosen.schema, resource.id_property, refs)
            names = [resource.id_property, *id_candidates(resource.id_param)]
            id_at = None if item_at is not None else find_id_pointer(chosen.schema, names, refs)
            self._pointers[key] = (item_at, id_at)
        return self._pointers[key]

    def _listing(
        self,
        op: Operation,
        chosen: Negotiated,
        resource: Resource,
        state: SessionState,
        scope: tuple[str, ...],
        request: MockRequest,
        dynamic: bool,
        seed: str | None,
    ) -> Any:
        template = self._template(op, chosen, dynamic, seed)
        if template is NO_EXAMPLE or resource.list_pointer is None:
            return template
        query = request.query_params()
        declared = {str(p.get("name")): p for p in op.parameters if p.get("in") == "query"}
        items = [
            item
            for item in state.collection(resource, scope).values()
            if _passes(item, query, declared)
        ]
        page, size, start = _pagination(query, declared, len(items))
        shown = items[start : start + size] if size is not None else items[start:]
        template = _put(template, resource.list_pointer, copy.deepcopy(shown))
        parent = _get(template, resource.list_pointer[:-1])
        if isinstance(parent, dict):
            _count(parent, _TOTAL_ITEMS, len(items))
            if size:
                _count(parent, _TOTAL_PAGES, math.ceil(len(items) / size))
            if page is not None:
                _count(parent, ("page", "current_page", "currentPage"), page)
        return template

    def _base(self, resource: Resource) -> dict[str, Any]:
        """The item GET's example (or sample) of the resource: the fields a new item starts
        with, so that reading it back gives a complete, valid item."""
        if resource.item_path not in self._bases:
            value = self._example((resource.item_path, "get"), sampled=True)
            item = _get(value, resource.item_pointer or ()) if value is not NO_EXAMPLE else None
            self._bases[resource.item_path] = item if isinstance(item, dict) else {}
        return copy.deepcopy(self._bases[resource.item_path])

    def _example(self, key: tuple[str, str], *, sampled: bool = False) -> Any:
        """The static body of an operation's success answer (NO_EXAMPLE unless it has an
        example, or `sampled` and a schema)."""
        op = self._ops.get(key)
        if op is None:
            return NO_EXAMPLE
        try:
            chosen = for_valid_request(
                op.responses, op.method, code=None, example=None, dynamic=False,
                accept="application/json",
            )  # fmt: skip
        except MockProblem:
            return NO_EXAMPLE
        if chosen.example is NO_EXAMPLE and not sampled:
            return NO_EXAMPLE
        value, has_body = self._renderer.value(
            self._checker_of(op), chosen, dynamic=False, seed=None
        )
        return value if has_body else NO_EXAMPLE

    def _param_example(self, resource: Resource, name: str) -> str:
        for key in ((resource.collection_path, "get"), (resource.collection_path, "post"),
                    (resource.item_path, "get")):  # fmt: skip
            op = self._ops.get(key)
            for param in op.parameters if op is not None else ():
                if param.get("in") != "path" or param.get("name") != name:
                    continue
                schema = param.get("schema") or {}
                for source in (param, schema):
                    if "example" in source:
                        return str(source["example"])
                    examples = source.get("examples")
                    if isinstance(examples, list) and examples:
                        return str(examples[0])
                    if isinstance(examples, Mapping):
                        first = next(iter(examples.values()), None)
                        if isinstance(first, Mapping) and "value" in first:
                            return str(first["value"])
                return str(sample(schema, self._contract.refs))
        return ""

    def _new_id(self, resource: Resource, state: SessionState) -> Any:
        """A fresh id of the id's schema: integers count up, anything else is a UUID derived
        from the resource and the count (repeatable from one run to the next)."""
        count = state.created.get(resource.item_path, 0)
        taken = {i for _s, i, _v in state.everywhere(resource)}
        kind = resource.id_schema.get("type")
        if kind == "integer" or (isinstance(kind, list) and "integer" in kind):
            numbers = [int(i) for i in taken if i.lstrip("-").isdigit()]
            state.created[resource.item_path] = count + 1
            return max([0, *numbers]) + 1
        while True:
            count += 1
            digest = hashlib.sha256(f"{resource.item_path}#{count}".encode()).digest()
            value = str(uuid.UUID(bytes=digest[:16], version=4))
            if value not in taken:
                state.created[resource.item_path] = count
                return value


def _json_body(request: MockRequest) -> Any:
    if not request.body:
        return {}
    if not is_json(request.headers.get("content-type", "application/json")):
        return None
    try:
        return json.loads(request.body)
    except ValueError:
        return None


def _merge(base: Any, extra: Any) -> Any:
    """`extra` over `base`, objects merged member by member (a JSON merge, nulls kept)."""
    if not isinstance(base, Mapping) or not isinstance(extra, Mapping):
        return copy.deepcopy(extra)
    merged = copy.deepcopy(dict(base))
    for name, value in extra.items():
        merged[name] = _merge(merged.get(name), value) if name in merged else copy.deepcopy(value)
    return merged


def _matches(item: Any, when: Mapping[str, Any]) -> bool:
    return isinstance(item, Mapping) and all(item.get(k) == v for k, v in when.items())


def _get(value: Any, pointer: Sequence[str]) -> Any:
    for name in pointer:
        if not isinstance(value, Mapping):
            return None
        value = value.get(name)
    return value


def _put(value: Any, pointer: Sequence[str], item: Any) -> Any:
    if not pointer:
        return item
    root = value if isinstance(value, dict) else {}
    node = root
    for name in pointer[:-1]:
        child = node.get(name)
        if not isinstance(child, dict):
            child = node[name] = {}
        node = child
    node[pointer[-1]] = item
    return root


def _count(parent: dict[str, Any], names: Sequence[str], number: int) -> None:
    """Set a total the template already carries, in the type it has (`"3"` stays text)."""
    for name in names:
        if name in parent:
            parent[name] = str(number) if isinstance(parent[name], str) else number
            return


def _passes(item: Any, query: Mapping[str, list[str]], declared: Mapping[str, Any]) -> bool:
    """Whether an item passes the declared query parameters read as filters: a parameter
    named as a field (or the plural of one: `tags` for `tag`) must equal it, or name one of
    its members' values; `search`/`q` must occur in one of its text fields."""
    if not isinstance(item, Mapping):
        return True
    for name, values in query.items():
        if name not in declared or not values or name in _PAGE + _SIZE + _OFFSET:
            continue
        if name in _SEARCH and name not in item:
            needle = values[0].lower()
            if not any(needle in str(v).lower() for v in item.values() if isinstance(v, str)):
                return False
            continue
        field = name if name in item else name[:-1] if name.endswith("s") else None
        if field is None or field not in item:
            continue
        wanted = {v for value in values for v in value.split(",")}
        if not _field_matches(item[field], wanted):
            return False
    return True


def _field_matches(value: Any, wanted: set[str]) -> bool:
    if isinstance(value, Mapping):
        return any(_text(v) in wanted for v in value.values() if not isinstance(v, dict | list))
    if isinstance(value, list):
        return any(_text(v) in wanted for v in value)
    return _text(value) in wanted


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "null" if value is None else str(value)


def _pagination(
    query: Mapping[str, list[str]], declared: Mapping[str, Any], total: int
) -> tuple[int | None, int | None, int]:
    """(page number, page size, first index) from the declared pagination parameters, their
    schema's `default` when absent."""

    def number(names: Sequence[str]) -> int | None:
        for name in names:
            if name not in declared:
                continue
            values = query.get(name)
            raw = values[0] if values else None
            default = (declared[name].get("schema") or {}).get("default")
            try:
                return (
                    int(raw) if raw is not None else int(default) if default is not None else None
                )
            except (TypeError, ValueError):
                return None
        return None

    size = number(_SIZE)
    page = number(_PAGE)
    offset = number(_OFFSET)
    if offset is not None:
        return None, size, max(offset, 0)
    if page is not None and size:
        return page, size, max(page - 1, 0) * size
    return page, size, 0
