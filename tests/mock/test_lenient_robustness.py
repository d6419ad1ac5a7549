"""Whatever a document gets wrong, the lenient mock loads it or refuses it in one line, and then
answers without an exception or a 5xx nobody asked for (issue 19: "loads any document Prism 5
loads" must not mean "crashes on the first request").

The parity corpus's documents are spoiled at random places with values of the wrong kind (a
deterministic sequence: the same documents every run), then loaded and asked a few requests.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Iterator
from typing import Any

import pytest

from authsvc.contract import ContractError, load_contract
from authsvc.contract.documents import parse_document
from authsvc.mock.engine.model import MockRequest
from authsvc.mock.engine.pipeline import MockEngine
from tests.mock.parity.batches import DOCUMENTS

WRONG_KINDS: list[Any] = [
    None,
    5,
    -1.5,
    True,
    "x",
    [],
    {},
    [1, "a"],
    {"a": 1},
    {"type": "int"},
    {"$ref": "#/nope"},
]
REQUESTS = [
    ({}, b""),
    ({"Content-Type": "application/json", "Authorization": "Bearer x"}, b'{"a":1}'),
    ({"Content-Type": "application/x-www-form-urlencoded", "Prefer": "dynamic=true"}, b"a=1&b=2"),
]
SPOILED = 150


def _nodes(node: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if path:
        yield path
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _nodes(value, (*path, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _nodes(value, (*path, index))


def _spoiled(seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    files = sorted(DOCUMENTS.glob("*.yaml"))
    document = parse_document(rng.choice(files).read_text())
    for _ in range(rng.randint(1, 3)):
        *parents, last = rng.choice(list(_nodes(document)))
        node = document
        for part in parents:
            node = node[part]
        node[last] = copy.deepcopy(rng.choice(WRONG_KINDS))
    return document  # type: ignore[no-any-return]


@pytest.mark.parametrize("seed", range(SPOILED))
def test_lenient_mock__a_spoiled_document_is_served_or_refused_never_a_crash(seed: int) -> None:
    try:
        contract = load_contract(_spoiled(seed), lenient=True)
    except ContractError:
        return  # refused in one line, as Prism refuses what it cannot read
    engine = MockEngine(contract)
    for operation in list(contract.operations())[:4]:
        path = operation.path.replace("{", "").replace("}", "")
        for headers, body in REQUESTS:
            answer = engine.handle(
                MockRequest.build(operation.method.upper(), path, headers=headers, body=body)
            )
            invented = b"stoplight.io/prism/errors#" in answer.body
            assert answer.status < 500 or invented, (seed, answer.status, answer.body[:200])
