"""The lenient reader (issue 19 item 1): documents Prism serves load, each problem named once by
its JSON pointer; the strict reader (the service, `--strict`) refuses the same documents."""

from __future__ import annotations

from pathlib import Path

import pytest

from authsvc.contract import ContractError, load_contract
from authsvc.contract.documents import parse_document

CONTRACTS = Path(__file__).resolve().parents[1] / "contracts"

_OK = "responses:\n        '200': {description: ok}\n"


def _document(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "api.yaml"
    path.write_text(text)
    return path


# Each case: the document as a team has it, and the pointer its one problem is reported at
# (None: the document is fine for the lenient reader and nothing is reported).
CASES = {
    "integer-status-keys": (
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n"
        "      responses:\n        200: {description: ok}\n",
        None,
        "/paths/~1a/get/responses/200",
    ),
    "no-info": (
        "openapi: 3.1.0\npaths:\n  /a:\n    get:\n      " + _OK,
        "/",
        "",
    ),
    "parameter-without-schema": (
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n"
        "      parameters: [{name: q, in: query}]\n      " + _OK,
        "/paths/~1a/get/parameters/0",
        "/paths/~1a/get/parameters/0",
    ),
    "undeclared-path-parameter": (
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /test/{id}:\n    get:\n      "
        + _OK,
        "/paths/~1test~1{id}/get",
        "",
    ),
    "description-inside-content": (
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n"
        "      responses:\n        '200':\n          description: ok\n          content:\n"
        "            application/json: {description: no, schema: {type: object}}\n",
        "/paths/~1a/get/responses/200/content/application~1json",
        "/paths/~1a/get/responses/200",
    ),
    "examples-in-a-3.0-schema": (
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n"
        "      responses:\n        '200':\n          description: ok\n          content:\n"
        "            application/json: {schema: {type: object, examples: [{}]}}\n",
        "/paths/~1a/get/responses/200/content/application~1json/schema",
        "/paths/~1a/get/responses/200",
    ),
    "oauth2-flow-without-scopes": (
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n      "
        + _OK
        + "components:\n  securitySchemes:\n    o:\n      type: oauth2\n      flows:\n"
        "        implicit: {authorizationUrl: 'https://a.test/auth'}\n",
        "/components/securitySchemes/o/flows/implicit",
        "/components/securitySchemes/o",
    ),
}


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_load_contract__lenient_serves_and_names_the_pointer(tmp_path: Path, case: str) -> None:
    text, reported, _strict = CASES[case]
    contract = load_contract(_document(tmp_path, text), lenient=True)
    assert [op.path for op in contract.operations()]
    pointers = [p.pointer or "/" for p in contract.problems]
    assert pointers == ([] if reported is None else [reported])
    assert contract.tolerant == (reported is not None)


@pytest.mark.parametrize("case", list(CASES), ids=list(CASES))
def test_load_contract__strict_refuses_naming_the_pointer(tmp_path: Path, case: str) -> None:
    text, _reported, pointer = CASES[case]
    with pytest.raises(ContractError) as refused:
        load_contract(_document(tmp_path, text))
    assert refused.value.pointer == pointer


def test_load_contract__integer_keys_are_strings_in_document_order(tmp_path: Path) -> None:
    text = CASES["integer-status-keys"][0].replace(
        "200: {description: ok}", "404: {description: no}\n        200: {description: ok}"
    )
    contract = load_contract(_document(tmp_path, text), lenient=True)
    assert list(contract.resolved["paths"]["/a"]["get"]["responses"]) == ["404", "200"]
    assert all(type(k) is str for k in contract.resolved["paths"]["/a"]["get"]["responses"])


@pytest.mark.parametrize(
    ("written", "read", "problem"),
    [
        ("200", "200", False),
        ("-5", "-5", False),
        ("0x1F", "31", True),  # an integer, but not as written
        ("010", "10", True),
        ("1.0", "1", True),
        ("1.50", "1.5", True),
        ("1e3", "1000", True),
        ("true", "true", True),
        ("~", "null", True),
        ("yes", "yes", False),  # a string in YAML 1.2
        ("2001-01-01", "2001-01-01", False),
        ("'200'", "200", False),
    ],
)
def test_parse_document__keys_read_as_yaml_12_prints_them(
    written: str, read: str, problem: bool
) -> None:
    """Prism's reader (@stoplight/yaml) gives these; a key that is not an integer is a problem."""
    from authsvc.contract.lenient import normalise_keys

    document = parse_document(f"{written}: x\n")
    found = normalise_keys(document)
    assert document == {read: "x"}
    assert any(not p.quiet for p in found) == problem


def test_load_contract__a_sequence_used_as_key_is_left_out(tmp_path: Path) -> None:
    text = CASES["no-info"][0] + "x-odd:\n  ? [1, 2]\n  : value\n"
    contract = load_contract(_document(tmp_path, text), lenient=True)
    assert contract.raw["x-odd"] == {}
    assert "/x-odd: a key that is a sequence or mapping is left out" in map(str, contract.problems)


def test_load_contract__a_python_mapping_with_integer_keys(tmp_path: Path) -> None:
    document = {
        "openapi": "3.1.0",
        "info": {"title": "t", "version": "1"},
        "paths": {"/a": {"get": {"responses": {200: {"description": "ok"}}}}},
    }
    assert load_contract(document, lenient=True).problems == ()
    with pytest.raises(ContractError, match="key 200 is an integer"):
        load_contract(document)


@pytest.mark.parametrize(
    ("text", "pointer"),
    [
        ("openapi: 3.0.3\npaths: {}\n", "/paths"),
        ("openapi: 3.0.3\npaths: {/a: 1}\n", "/paths"),
        ("info: {title: t}\npaths: {}\n", "/openapi"),
    ],
    ids=["no-paths", "no-operation", "neither-openapi-nor-swagger"],
)
def test_load_contract__lenient_still_refuses_what_prism_refuses(
    tmp_path: Path, text: str, pointer: str
) -> None:
    with pytest.raises(ContractError) as refused:
        load_contract(_document(tmp_path, text), lenient=True)
    assert refused.value.pointer == pointer


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("loader-cycle-allof-oneof.yaml", "circular \\$ref"),
        ("loader-alias-bomb.yaml", "YAML aliases expand"),
        ("loader-passwd-ref.yaml", "points outside the contract's directory"),
        ("loader-remote-ref.yaml", "remote reference"),
    ],
    ids=["cycle", "alias-bomb", "outside-the-folder", "remote"],
)
def test_load_contract__lenient_keeps_the_hostile_document_refusals(name: str, said: str) -> None:
    with pytest.raises(ContractError, match=said):
        load_contract(CONTRACTS / name, lenient=True)


def test_load_contract__parts_prism_skips_are_left_out_with_a_problem(tmp_path: Path) -> None:
    text = (
        "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    parameters: 5\n"
        "    get:\n      parameters: [{in: query}, {name: q, in: query, required: yes-please}]\n"
        "      responses:\n        '200': {description: ok}\n        x-note: {description: n}\n"
        "        '201': oops\n  /b: nothing\n"
    )
    contract = load_contract(_document(tmp_path, text), lenient=True)
    (operation,) = contract.operations()
    assert [p["name"] for p in operation.parameters] == ["q"]
    assert "required" not in operation.parameters[0]
    assert list(operation.responses) == ["200"]
    pointers = {p.pointer for p in contract.problems}
    assert {"/paths/~1b", "/paths/~1a/parameters", "/paths/~1a/get/responses/x-note"} <= pointers


def test_load_contract__a_schema_that_is_not_json_schema_validates_nothing(
    tmp_path: Path,
) -> None:
    """Prism's ajv refuses to compile it and then checks nothing against it."""
    text = (
        "openapi: 3.0.3\npaths:\n  /a:\n    get:\n      parameters:\n"
        "        - {name: q, in: query, schema: {type: int}}\n"
        "        - {name: n, in: query, schema: {type: string, pattern: '('}}\n"
        "      " + _OK
    )
    contract = load_contract(_document(tmp_path, text), lenient=True)
    plan = contract.plan(next(contract.operations()))
    assert plan.parameters["query", "q"].first_message("anything") is None
    assert plan.parameters["query", "n"].first_message("anything") is None
