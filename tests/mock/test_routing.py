"""Routing (`authsvc.mock.engine.routing`): which operation a method and raw path reach, or Prism's 404/405."""

from __future__ import annotations

from typing import Any

import pytest

from authsvc.contract import Contract, load_contract
from authsvc.mock.engine.problems import MockProblem
from authsvc.mock.engine.routing import Router, normalise_path, param_name


def _contract(paths: dict[str, Any], servers: list[dict[str, Any]] | None = None) -> Contract:
    doc: dict[str, Any] = {
        "openapi": "3.1.0",
        "info": {"title": "routing", "version": "1"},
        "paths": paths,
    }
    if servers is not None:
        doc["servers"] = servers
    return load_contract(doc)


def _op(operation_id: str, *params: str) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "parameters": [
            {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
            for p in params
        ],
        "responses": {"200": {"description": "ok"}},
    }


@pytest.fixture(scope="module")
def petstore(contracts: dict[str, Contract]) -> Router:
    return Router(contracts["petstore-30.yaml"])


@pytest.fixture(scope="module")
def overlapping() -> Router:
    # The templated path is declared first, so a concrete win is not document order.
    return Router(
        _contract(
            {
                "/pets/{petId}": {"get": _op("pets.show", "petId")},
                "/pets/mine": {"get": _op("pets.mine")},
                "/files/{name}.{ext}": {"get": _op("files.show", "name", "ext")},
                "/users/{user-id}/keys/{key.id}": {"get": _op("keys.show", "user-id", "key.id")},
            }
        )
    )


def _params(raw: dict[str, str]) -> dict[str, str]:
    return {param_name(group): value for group, value in raw.items()}


@pytest.mark.parametrize(
    ("method", "path", "operation_id", "params"),
    [
        ("GET", "/pets", "pets.list", {}),
        ("get", "/pets", "pets.list", {}),
        ("POST", "/pets", "pets.create", {}),
        ("GET", "/pets/12", "pets.show", {"petId": "12"}),
        ("DELETE", "/pets/12", "pets.delete", {"petId": "12"}),
        ("GET", "/store/inventory", "store.inventory", {}),
        ("GET", "/p%65ts", "pets.list", {}),
        ("GET", "/store/%69nventory", "store.inventory", {}),
        ("GET", "/pets/a%20b", "pets.show", {"petId": "a%20b"}),
        ("GET", "/pets/../store/inventory", "store.inventory", {}),
        ("GET", "/pets/./12", "pets.show", {"petId": "12"}),
        ("GET", "/../pets", "pets.list", {}),
        ("GET", "//pets", "pets.list", {}),
        ("GET", "pets", "pets.list", {}),
    ],
    ids=[
        "literal",
        "method-case-insensitive",
        "literal-other-method",
        "template",
        "template-other-method",
        "two-literal-segments",
        "percent-encoded-literal",
        "percent-encoded-second-literal",
        "template-value-left-encoded",
        "dot-dot-segment",
        "dot-segment",
        "dot-dot-above-root",
        "double-leading-slash",
        "no-leading-slash",
    ],
)
def test_routing__matches(
    petstore: Router, method: str, path: str, operation_id: str, params: dict[str, str]
) -> None:
    found = petstore.match(method, path)
    assert found.operation.operation_id == operation_id
    assert _params(found.raw_path_params) == params


@pytest.mark.parametrize(
    ("path", "operation_id", "params"),
    [
        ("/pets/mine", "pets.mine", {}),
        ("/pets/yours", "pets.show", {"petId": "yours"}),
        ("/pets/min%65", "pets.mine", {}),
        ("/files/report.pdf", "files.show", {"name": "report", "ext": "pdf"}),
        ("/files/a.tar.gz", "files.show", {"name": "a.tar", "ext": "gz"}),
        ("/users/u1/keys/k9", "keys.show", {"user-id": "u1", "key.id": "k9"}),
    ],
    ids=[
        "concrete-beats-templated",
        "templated-otherwise",
        "concrete-after-decoding",
        "two-templates-in-one-segment",
        "last-dot-splits-the-segment",
        "parameter-names-with-punctuation",
    ],
)
def test_routing__concrete_and_templated(
    overlapping: Router, path: str, operation_id: str, params: dict[str, str]
) -> None:
    found = overlapping.match("GET", path)
    assert found.operation.operation_id == operation_id
    assert _params(found.raw_path_params) == params


@pytest.mark.parametrize(
    ("method", "path", "status", "kind", "detail", "allow"),
    [
        ("GET", "/owners", 404, "NO_PATH_MATCHED_ERROR", "The route /owners hasn't been found", None),
        ("GET", "/pets/1/toys", 404, "NO_PATH_MATCHED_ERROR", "/pets/1/toys", None),
        ("GET", "/store/inventory/", 404, "NO_PATH_MATCHED_ERROR", "/store/inventory/", None),
        ("GET", "/pets%2F12", 404, "NO_PATH_MATCHED_ERROR", "/pets%2F12", None),
        ("GET", "/store/../owners", 404, "NO_PATH_MATCHED_ERROR", "The route /owners ", None),
        ("PUT", "/pets", 405, "NO_METHOD_MATCHED_ERROR", '"put" method', "GET, POST"),
        ("PATCH", "/pets/1", 405, "NO_METHOD_MATCHED_ERROR", "/pets/1 has been matched", "DELETE, GET"),
        ("POST", "/store/inventory", 405, "NO_METHOD_MATCHED_ERROR", '"post"', "GET"),
    ],
    ids=[
        "unknown-path",
        "extra-segment",
        "trailing-slash-is-significant",
        "encoded-slash-does-not-split",
        "detail-names-normalised-path",
        "literal-other-method",
        "templated-other-method",
        "single-method",
    ],
)  # fmt: skip
def test_routing__problems(
    petstore: Router, method: str, path: str, status: int, kind: str, detail: str,
    allow: str | None,
) -> None:  # fmt: skip
    with pytest.raises(MockProblem) as caught:
        petstore.match(method, path)
    problem = caught.value
    assert (problem.status, problem.template.type) == (status, kind)
    assert detail in problem.detail
    assert problem.headers.get("Allow") == allow


@pytest.mark.parametrize(
    ("server_url", "matched"),
    [
        ("http://petstore.test/v2", True),
        ("http://staging.petstore.test/v2", True),
        (None, True),
        ("http://other.test/v2", False),
        ("http://petstore.test/v3", False),
    ],
    ids=["first-server", "second-server", "not-asked", "other-host", "other-base-path"],
)
def test_routing__server(petstore: Router, server_url: str | None, matched: bool) -> None:
    if matched:
        assert petstore.match("GET", "/pets", server_url).operation.operation_id == "pets.list"
        return
    with pytest.raises(MockProblem) as caught:
        petstore.match("GET", "/pets", server_url)
    assert (caught.value.status, caught.value.template.type) == (404, "NO_SERVER_MATCHED_ERROR")
    assert f"The server url {server_url} hasn't been matched" in caught.value.detail


@pytest.mark.parametrize(
    ("server_url", "matched"),
    [
        ("https://eu.api.test/v1", True),
        ("https://us.api.test/v1", True),
        ("https://ap.api.test/v1", False),
        ("https://eu.api.test/v2", False),
    ],
    ids=["enum-first", "enum-second", "not-in-enum", "literal-part-differs"],
)
def test_routing__server_variables_are_enum_alternatives(server_url: str, matched: bool) -> None:
    router = Router(
        _contract(
            {"/ping": {"get": _op("ping")}},
            servers=[
                {
                    "url": "https://{region}.api.test/v1",
                    "variables": {"region": {"default": "eu", "enum": ["eu", "us"]}},
                }
            ],
        )
    )
    if matched:
        assert router.match("GET", "/ping", server_url).operation.operation_id == "ping"
    else:
        with pytest.raises(MockProblem) as caught:
            router.match("GET", "/ping", server_url)
        assert caught.value.template.type == "NO_SERVER_MATCHED_ERROR"


def test_routing__server_asked_of_a_contract_without_servers() -> None:
    router = Router(_contract({"/ping": {"get": _op("ping")}}))
    with pytest.raises(MockProblem) as caught:
        router.match("GET", "/ping", "http://a.test")
    assert (caught.value.status, caught.value.template.type) == (
        404,
        "NO_SERVER_CONFIGURATION_PROVIDED_ERROR",
    )


def test_routing__paths_at_server_root_not_under_base_path(petstore: Router) -> None:
    with pytest.raises(MockProblem) as caught:
        petstore.match("GET", "/v2/pets")
    assert caught.value.template.type == "NO_PATH_MATCHED_ERROR"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/a/b/../c", "/a/c"),
        ("/a/./b", "/a/b"),
        ("/a/b/", "/a/b/"),
        ("/..", "/"),
        ("/", "/"),
        ("a/b", "/a/b"),
    ],
    ids=["dot-dot", "dot", "trailing-slash-kept", "above-root", "root", "leading-slash-added"],
)
def test_routing__normalise_path(raw: str, expected: str) -> None:
    assert normalise_path(raw) == expected


@pytest.mark.parametrize(
    ("path", "route"),
    [
        ("/c/1/show.json", "show"),
        ("/c/abc/2.json", "slug-id"),
        ("/t/x.json", "file"),
        ("/t/x", "file"),
    ],
    ids=["literal-beats-template-left-to-right", "only-template-fits", "equal-scores-last-wins",
         "single-fit"],
)  # fmt: skip
def test_routing__templated_paths_ranked_by_segment_as_prism(
    contracts: dict[str, Contract], path: str, route: str
) -> None:
    # Prism 5.14 answers these as listed (tests/contracts/mock-routing.yaml, Discourse's shape).
    found = Router(contracts["mock-routing.yaml"]).match("GET", path)
    examples = found.operation.responses["200"]["content"]["application/json"]["example"]
    assert examples == {"route": route}
