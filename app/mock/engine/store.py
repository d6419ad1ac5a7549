"""The state of one mock session: stored items by resource, by parent scope, by id.

A plain data structure (no locks, no I/O): the adapters in `mock/serve/` own the sessions, lock
around each request and expose the reset endpoint. Items are JSON values, kept in creation order;
ids are keyed as text, so `/pets/3` finds the pet whose integer id is 3.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from authsvc.mock.engine.resources import Resource

Scope = tuple[str, ...]

# The format of `--state FILE` and of `POST /__mock/state` (published in docs/mock.md).
STATE_SCHEMA: Mapping[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "authsvc mock state",
    "description": (
        "Stored items by concrete collection path (the contract's collection path with its "
        "parent parameters filled in); each item is what the item GET serves in place of the "
        "resource, and must carry the resource's id property."
    ),
    "type": "object",
    "propertyNames": {"pattern": "^/"},
    "additionalProperties": {"type": "array", "items": {"type": "object"}},
}


class StateError(ValueError):
    """A state fixture that does not fit the contract; `pointer` names the offending part."""

    def __init__(self, pointer: str, message: str) -> None:
        super().__init__(f"{pointer or '/'}: {message}")
        self.pointer = pointer
        self.message = message


@dataclass
class SessionState:
    """Items of every resource in one session."""

    items: dict[str, dict[Scope, dict[str, Any]]] = field(default_factory=dict)
    # Creations per resource: integer ids continue from the highest one, uuids are derived.
    created: dict[str, int] = field(default_factory=dict)

    def collection(self, resource: Resource, scope: Scope) -> dict[str, Any]:
        return self.items.setdefault(resource.item_path, {}).setdefault(scope, {})

    def find(self, resource: Resource, scope: Scope, item_id: str) -> Any | None:
        return self.items.get(resource.item_path, {}).get(scope, {}).get(item_id)

    def put(self, resource: Resource, scope: Scope, item_id: str, item: Any) -> None:
        self.collection(resource, scope)[item_id] = item

    def remove(self, resource: Resource, scope: Scope, item_id: str) -> bool:
        return self.items.get(resource.item_path, {}).get(scope, {}).pop(item_id, None) is not None

    def everywhere(self, resource: Resource) -> Iterator[tuple[Scope, str, Any]]:
        """Every item of a resource, scope by scope, in creation order."""
        for scope, found in self.items.get(resource.item_path, {}).items():
            for item_id, item in found.items():
                yield scope, item_id, item

    def copy(self) -> SessionState:
        return SessionState(copy.deepcopy(self.items), dict(self.created))

    def as_fixture(self, resources: Iterable[Resource]) -> dict[str, list[Any]]:
        """This state in the fixture format (`STATE_SCHEMA`)."""
        document: dict[str, list[Any]] = {}
        for resource in resources:
            for scope, found in self.items.get(resource.item_path, {}).items():
                if found:
                    document[resource.collection_url(scope)] = list(found.values())
        return document


def load_fixture(document: Any, resources: Iterable[Resource]) -> SessionState:
    """A session state from the fixture format; StateError names what does not fit."""
    if not isinstance(document, Mapping):
        raise StateError("", "the state must be a JSON object of collection paths")
    known = list(resources)
    state = SessionState()
    for url, items in document.items():
        pointer = "/" + str(url).replace("~", "~0").replace("/", "~1")
        matched = [(r, s) for r in known if (s := r.match_collection(str(url))) is not None]
        if not matched:
            raise StateError(pointer, f"{url} is not a collection the mock infers a resource for")
        # A literal collection path beats a templated one, as in routing.
        resource, scope = min(matched, key=lambda rs: len(rs[0].parents))
        if not isinstance(items, list):
            raise StateError(pointer, "must be an array of items")
        for index, item in enumerate(items):
            if not isinstance(item, Mapping) or resource.id_property not in item:
                raise StateError(
                    f"{pointer}/{index}", f"must be an object with `{resource.id_property}`"
                )
            state.put(resource, scope, str(item[resource.id_property]), copy.deepcopy(item))
    return state
