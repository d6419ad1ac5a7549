"""Which operations of a contract act on which stored resource (stateful mode's map).

A collection path (`/customers/{customerID}/users`) pairs with the item path below it
(`.../users/{userID}`): POST on the collection creates, GET lists; GET, PATCH, PUT and DELETE on
the item read, update, replace and remove. The templates of the collection path scope the items
(a user of customer A is not in customer B's list). Where the resource sits in a response is
found through the schema: the object that carries the item's id property, and the array of such
objects. A contract author corrects the heuristics with `x-mock-*` extensions (docs/mock.md,
"Stateful mode"); an operation the map does not cover answers as a stateless mock does.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from authsvc.contract import Contract, Operation

_TEMPLATE = re.compile(r"\{([^}]+)\}")
_ROLES = {"create", "list", "read", "update", "replace", "delete"}
_ITEM_ROLES = {"get": "read", "patch": "update", "put": "replace", "delete": "delete"}
_MAX_DEPTH = 6

Pointer = tuple[str, ...]


@dataclass(frozen=True)
class Action:
    """`x-mock-action`: an operation that sets fields of an item (`when` they match)."""

    set: Mapping[str, Any]
    when: Mapping[str, Any]
    # Whether the item's id is in the operation's path (`.../{userID}/resend-invite`); otherwise
    # the action applies to the matching item whose id a path value equals, else to the first
    # stored item that matches `when` (`/invite/{token}/accept`).
    by_path: bool


@dataclass
class Resource:
    """One stored collection: its paths, its id, and where items sit in its answers."""

    item_path: str
    collection_path: str
    id_param: str
    parents: tuple[str, ...]
    id_property: str = "id"
    id_schema: Mapping[str, Any] = field(default_factory=dict)
    # Where the item sits in the item GET's body, the array in the list's body.
    item_pointer: Pointer | None = None
    list_pointer: Pointer | None = None
    defaults: Mapping[str, Any] = field(default_factory=dict)
    _collection_re: re.Pattern[str] | None = None

    def scope(self, path_params: Mapping[str, str]) -> tuple[str, ...]:
        """The parent path values that scope this resource's items."""
        return tuple(path_params.get(name, "") for name in self.parents)

    def match_collection(self, concrete: str) -> tuple[str, ...] | None:
        """The scope of a concrete collection path (a state fixture's key), or None."""
        if self._collection_re is None:
            pattern, last = "", 0
            for found in _TEMPLATE.finditer(self.collection_path):
                pattern += re.escape(self.collection_path[last : found.start()]) + "([^/]+)"
                last = found.end()
            self._collection_re = re.compile(pattern + re.escape(self.collection_path[last:]))
        matched = self._collection_re.fullmatch(concrete.rstrip("/") or "/")
        return None if matched is None else matched.groups()

    def collection_url(self, scope: Sequence[str]) -> str:
        values = iter(scope)
        return _TEMPLATE.sub(lambda _m: next(values, ""), self.collection_path)


@dataclass(frozen=True)
class Binding:
    """What one operation does to a resource."""

    resource: Resource
    role: str  # create, list, read, update, replace, delete, action
    action: Action | None = None


def infer(contract: Contract) -> dict[tuple[str, str], Binding]:
    """(path, method) -> Binding for every operation the heuristics (or extensions) map."""
    paths: Mapping[str, Any] = contract.resolved.get("paths") or {}
    ops = {(op.path, op.method): op for op in contract.operations()}
    resources: dict[str, Resource] = {}
    for item_path in paths:
        parent, _, last = item_path.rstrip("/").rpartition("/")
        found = _TEMPLATE.fullmatch(last)
        if not found or (item_path, "get") not in ops:
            continue
        if (parent, "get") not in ops and (parent, "post") not in ops:
            continue
        resources[item_path] = Resource(
            item_path, parent or "/", found.group(1), tuple(_TEMPLATE.findall(parent))
        )
    bindings: dict[tuple[str, str], Binding] = {}
    for resource in resources.values():
        for method in ("get", "post"):
            if (resource.collection_path, method) in ops:
                role = "list" if method == "get" else "create"
                bindings[(resource.collection_path, method)] = Binding(resource, role)
        for method, role in _ITEM_ROLES.items():
            if (resource.item_path, method) in ops:
                bindings[(resource.item_path, method)] = Binding(resource, role)
    for key, op in ops.items():
        _apply_extensions(op, key, bindings, resources, paths)
    for resource in {id(b.resource): b.resource for b in bindings.values()}.values():
        _locate(contract, resource, ops)
    return bindings


def _apply_extensions(
    op: Operation,
    key: tuple[str, str],
    bindings: dict[tuple[str, str], Binding],
    resources: dict[str, Resource],
    paths: Mapping[str, Any],
) -> None:
    declared = op.spec.get("x-mock-resource")
    if declared is False:
        bindings.pop(key, None)
    elif isinstance(declared, Mapping):
        target = _resource(str(declared.get("path") or ""), resources, paths)
        role = str(declared.get("role") or "")
        if target is not None and role in _ROLES:
            if isinstance(declared.get("id"), str):
                target.id_property = declared["id"]
            bindings[key] = Binding(target, role)
    action = op.spec.get("x-mock-action")
    if isinstance(action, Mapping) and isinstance(action.get("set"), Mapping):
        target = _resource(str(action.get("resource") or ""), resources, paths)
        if target is not None:
            by_path = op.path.startswith(target.item_path + "/")
            when = action.get("when") if isinstance(action.get("when"), Mapping) else {}
            bindings[key] = Binding(target, "action", Action(action["set"], when or {}, by_path))
    binding = bindings.get(key)
    defaults = op.spec.get("x-mock-defaults")
    if binding is not None and binding.role == "create" and isinstance(defaults, Mapping):
        binding.resource.defaults = dict(defaults)


def _resource(
    item_path: str, resources: dict[str, Resource], paths: Mapping[str, Any]
) -> Resource | None:
    """The resource of an item path an extension names (made if the heuristics missed it)."""
    if item_path in resources:
        return resources[item_path]
    parent, _, last = item_path.rpartition("/")
    found = _TEMPLATE.fullmatch(last)
    if item_path not in paths or not found:
        return None
    resource = Resource(item_path, parent or "/", found.group(1), tuple(_TEMPLATE.findall(parent)))
    resources[item_path] = resource
    return resource


def id_candidates(param: str) -> list[str]:
    """Property names an item's id may have, for the path parameter naming it."""
    base = re.sub(r"[_-]?id$", "", param, flags=re.IGNORECASE)
    names = ["id", param]
    if base:
        names += [f"{base}_id", f"{base}Id", f"{base}ID"]
    return list(dict.fromkeys(names))


def _locate(contract: Contract, resource: Resource, ops: Mapping[tuple[str, str], Any]) -> None:
    """Find the id property and where items sit in the item GET and the list answers."""
    refs = contract.refs
    item_schema = _success_schema(ops.get((resource.item_path, "get")))
    names = [resource.id_property] if resource.id_property != "id" else []
    names += id_candidates(resource.id_param)
    found = _find_object(item_schema, names, refs) if item_schema is not None else None
    if found is not None:
        resource.item_pointer, resource.id_property, resource.id_schema = found
    list_schema = _success_schema(ops.get((resource.collection_path, "get")))
    if list_schema is not None:
        arrays = _find_array(list_schema, [resource.id_property], refs)
        if arrays is not None:
            resource.list_pointer, _, schema = arrays
            resource.id_schema = resource.id_schema or schema
    if not resource.id_schema:
        param = _path_param(ops.get((resource.item_path, "get")), resource.id_param)
        resource.id_schema = param or {"type": "string"}


def success_schema_of(op: Operation | None) -> Any:
    return _success_schema(op)


def _success_schema(op: Operation | None) -> Any:
    if op is None:
        return None
    for code, response in op.responses.items():
        if str(code).startswith("2") and isinstance(response, Mapping):
            for media, content in (response.get("content") or {}).items():
                if "json" in str(media) and isinstance(content, Mapping):
                    return content.get("schema")
    return None


def _path_param(op: Operation | None, name: str) -> Mapping[str, Any] | None:
    for param in op.parameters if op is not None else ():
        if param.get("in") == "path" and param.get("name") == name:
            schema = param.get("schema")
            return schema if isinstance(schema, Mapping) else None
    return None


def properties(schema: Any, refs: Any, depth: int = 0) -> dict[str, Any]:
    """An object schema's properties, `allOf` merged, `$ref`s followed, first object branch of
    `anyOf`/`oneOf`."""
    if not isinstance(schema, Mapping) or depth > _MAX_DEPTH:
        return {}
    if isinstance(schema.get("$ref"), str):
        return properties(refs.resolve(schema["$ref"]), refs, depth + 1)
    found: dict[str, Any] = dict(schema.get("properties") or {})
    for part in schema.get("allOf") or ():
        for name, value in properties(part, refs, depth + 1).items():
            # A property several parts declare must satisfy them all.
            found[name] = {"allOf": [found[name], value]} if name in found else value
    for keyword in ("anyOf", "oneOf"):
        for part in schema.get(keyword) or ():
            branch = properties(part, refs, depth + 1)
            if branch:
                for name, value in branch.items():
                    found.setdefault(name, value)
                break
    return found


def _deref(schema: Any, refs: Any) -> Any:
    for _ in range(_MAX_DEPTH):
        if isinstance(schema, Mapping) and isinstance(schema.get("$ref"), str):
            schema = refs.resolve(schema["$ref"])
    return schema


def _walk(schema: Any, refs: Any) -> Iterator[tuple[Pointer, Any]]:
    """Object schemas reachable through properties, breadth first (shallow ones first)."""
    queue: list[tuple[Pointer, Any]] = [((), schema)]
    while queue:
        pointer, node = queue.pop(0)
        yield pointer, node
        if len(pointer) < _MAX_DEPTH:
            queue += [((*pointer, k), v) for k, v in properties(node, refs).items()]


def _find_object(
    schema: Any, names: Sequence[str], refs: Any
) -> tuple[Pointer, str, Mapping[str, Any]] | None:
    for pointer, node in _walk(schema, refs):
        props = properties(node, refs)
        name = next((n for n in names if n in props), None)
        # An item has more than its id: an object of the id alone is a create answer's receipt.
        if name is not None and len(props) > 1:
            return pointer, name, _deref(props[name], refs)
    return None


def _find_array(
    schema: Any, names: Sequence[str], refs: Any
) -> tuple[Pointer, str, Mapping[str, Any]] | None:
    for pointer, node in _walk(schema, refs):
        items = properties({"allOf": list(_array_items(node, refs, 0))}, refs)
        name = next((n for n in names if n in items), None)
        if name is not None:
            return pointer, name, _deref(items[name], refs)
    return None


def _array_items(schema: Any, refs: Any, depth: int) -> Iterator[Any]:
    """The `items` schemas of an array schema and of its `allOf` parts."""
    schema = _deref(schema, refs)
    if not isinstance(schema, Mapping) or depth > _MAX_DEPTH:
        return
    if "items" in schema:
        yield schema["items"]
    for part in schema.get("allOf") or ():
        yield from _array_items(part, refs, depth + 1)


def find_id_pointer(schema: Any, names: Sequence[str], refs: Any) -> Pointer | None:
    """Where a create answer puts the new id (`data.user_id`), if it has no whole item."""
    for pointer, node in _walk(schema, refs):
        props = properties(node, refs)
        name = next((n for n in names if n in props), None)
        if name is not None:
            return (*pointer, name)
    return None


def find_item_pointer(schema: Any, id_property: str, refs: Any) -> Pointer | None:
    """Where an answer carries a whole item (the object with the id and more), if it does."""
    found = _find_object(schema, [id_property], refs)
    return None if found is None else found[0]
