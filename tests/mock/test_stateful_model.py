"""Stateful mode against a model: any sequence of create, get, list, patch, delete and reset
leaves the mock agreeing with a dict, on the Auth Service contract and on two third-party CRUD
contracts (petstore-expanded, room-bookings; sources in docs/mock.md), with every answer valid."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    precondition,
    rule,
)

from authsvc.contract import Contract, default_contract_path, load_contract
from authsvc.mock import MockEngine, MockOptions, MockRequest, MockResponse
from authsvc.mock.serve.sessions import Sessions
from tests.mock.conftest import CONTRACTS

NAMES = st.text("abcdefghij", min_size=1, max_size=8)


@dataclass(frozen=True)
class Target:
    """How one contract's resource is created, read and listed."""

    spec: Callable[[], Contract]
    collection: str
    body: st.SearchStrategy[dict[str, Any]]
    created_id: Callable[[Any], str]
    item: Callable[[Any], dict[str, Any]]
    listed: Callable[[Any], list[dict[str, Any]]]
    unknown_id: str
    list_query: str = ""
    patch: st.SearchStrategy[dict[str, Any]] | None = None
    delete: bool = True


AUTH = Target(
    spec=lambda: load_contract(default_contract_path()),
    collection="/customers/3fa85f64-5717-4562-b3fc-2c963f66afa6/users",
    body=st.builds(
        lambda first, last: {
            "first_name": first,
            "last_name": last,
            "email": f"{first}.{last}@example.com",
            "subrole": {"id": "cececa89-aa54-4433-8184-ec0598392811", "code": "cro", "label": "C"},
        },
        NAMES,
        NAMES,
    ),
    created_id=lambda body: body["data"]["user_id"],
    item=lambda body: body["data"],
    listed=lambda body: body["data"]["records"],
    unknown_id="00000000-0000-4000-8000-000000000000",
    list_query="items_per_page=100",
    patch=st.fixed_dictionaries(
        {}, optional={"first_name": NAMES, "status": st.sampled_from(["ACTIVE", "INACTIVE"])}
    ).filter(bool),
    delete=False,  # the contract has no DELETE: a user is deactivated
)
PETSTORE = Target(
    spec=lambda: load_contract(CONTRACTS / "petstore-expanded.yaml"),
    collection="/pets",
    body=st.fixed_dictionaries({"name": NAMES}, optional={"tag": NAMES}),
    created_id=lambda body: str(body["id"]),
    item=lambda body: body,
    listed=lambda body: body,
    unknown_id="999999",
)
ROOMS = Target(
    spec=lambda: load_contract(CONTRACTS / "room-bookings.yaml"),
    collection="/bookings",
    body=st.fixed_dictionaries(
        {
            "room_id": st.uuids(version=4).map(str),
            "organiser": NAMES,
            "attendees": st.integers(min_value=1, max_value=40),
            "needs_projector": st.booleans(),
        }
    ),
    created_id=lambda body: body["id"],
    item=lambda body: {k: v for k, v in body.items() if k != "links"},
    listed=lambda body: body["data"],
    unknown_id="00000000-0000-4000-8000-000000000000",
    list_query="limit=100",
)


def _contains(found: Any, expected: Any) -> bool:
    """What the client sent is in what it reads back (objects merged over the contract's)."""
    if isinstance(expected, dict):
        return isinstance(found, dict) and all(
            k in found and _contains(found[k], v) for k, v in expected.items()
        )
    return bool(found == expected)


def machine_for(target: Target) -> type[RuleBasedStateMachine]:
    contract = target.spec()

    class Model(RuleBasedStateMachine):
        ids = Bundle("ids")

        def __init__(self) -> None:
            super().__init__()
            self.engine = MockEngine(contract, MockOptions(stateful=True))
            self.sessions = Sessions(self.engine)
            self.model: dict[str, dict[str, Any]] = {}

        def send(self, method: str, path: str, body: Any = None, query: str = "") -> MockResponse:
            headers = {"authorization": "Bearer t", "x-mock-session": "model"}
            raw = b""
            if body is not None:
                headers["content-type"] = "application/json"
                raw = json.dumps(body).encode()
            answer = self.sessions.handle(
                self.engine, MockRequest.build(method, path, query=query, headers=headers, body=raw)
            )
            assert answer.header("sl-violations") is None, answer.header("sl-violations")
            return answer

        @initialize()
        def empty(self) -> None:
            assert self.send("DELETE", "/__mock/state").status == 204

        @rule(target=ids, body=target.body)
        def create(self, body: dict[str, Any]) -> str:
            answer = self.send("POST", target.collection, body)
            assert 200 <= answer.status < 300
            item_id = target.created_id(answer.json())
            assert item_id not in self.model
            self.model[item_id] = body
            return item_id

        @rule(item_id=ids)
        def get(self, item_id: str) -> None:
            answer = self.send("GET", f"{target.collection}/{item_id}")
            if item_id not in self.model:
                assert answer.status == 404
                return
            assert answer.status == 200
            assert _contains(target.item(answer.json()), self.model[item_id])

        @rule()
        def get_unknown(self) -> None:
            assert self.send("GET", f"{target.collection}/{target.unknown_id}").status == 404

        @precondition(lambda self: target.patch is not None)
        @rule(item_id=ids, data=st.data())
        def patch(self, item_id: str, data: st.DataObject) -> None:
            assert target.patch is not None
            change = data.draw(target.patch)
            answer = self.send("PATCH", f"{target.collection}/{item_id}", change)
            if item_id not in self.model:
                assert answer.status == 404
                return
            assert answer.status == 200
            self.model[item_id] = {**self.model[item_id], **change}

        @precondition(lambda self: target.delete)
        @rule(item_id=consumes(ids))
        def delete(self, item_id: str) -> None:
            answer = self.send("DELETE", f"{target.collection}/{item_id}")
            assert answer.status == (204 if self.model.pop(item_id, None) is not None else 404)

        @rule()
        def reset(self) -> None:
            assert self.send("DELETE", "/__mock/state").status == 204
            self.model.clear()

        @invariant()
        def listed(self) -> None:
            answer = self.send("GET", target.collection, query=target.list_query)
            assert answer.status == 200
            found = [str(item["id"]) for item in target.listed(answer.json())]
            assert found == list(self.model)

    return Model


@pytest.mark.parametrize("target", [AUTH, PETSTORE, ROOMS], ids=["auth", "petstore", "rooms"])
def test_stateful_model__agrees_with_a_dict(target: Target) -> None:
    machine = machine_for(target)
    machine.TestCase.settings = settings(
        max_examples=25,
        stateful_step_count=15,
        deadline=None,
        derandomize=True,
        suppress_health_check=[HealthCheck.too_slow],
    )
    machine.TestCase().runTest()
