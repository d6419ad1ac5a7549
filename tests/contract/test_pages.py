"""The contract keeps what each published Auth Service page says (copied to tests/contracts/pages).

Each page is a stand-alone OpenAPI fragment inside a Markdown file. For its operation, our
contract must keep every published status, response description, example (the media example and
every property-level example, messages included), property, `required` list, parameter, summary,
tag and security requirement. The few deliberate changes are listed in docs/contract.md; those that
touch what is compared here are the named exceptions below, and nothing else may differ.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from jsonschema import Draft202012Validator

from authsvc.contract import default_contract_path, load_contract

# The pages as published, copied verbatim (first line: the page's address).
DOCS = Path(__file__).resolve().parents[1] / "contracts" / "pages"
PAGES = {
    "get-customer-users.md": ("/customers/{customerID}/users", "get"),
    "create-customer-user.md": ("/customers/{customerID}/users", "post"),
    "get-customer-user-by-id.md": ("/customers/{customerID}/users/{userID}", "get"),
    "update-customer-user-by-id.md": ("/customers/{customerID}/users/{userID}", "patch"),
    "get-customer-subroles.md": ("/customers/{customerID}/subroles", "get"),
    "accept-invitation.md": ("/invite/{inviteToken}/accept", "post"),
    "customer-sign-in.md": ("/customer/sign-in", "post"),
    "customer-refresh-token.md": ("/refresh-token/customer", "post"),
    "customer-logout.md": ("/customer/logout", "post"),
    "forgot-password-init.md": ("/forgot-password", "post"),
    "reset-password.md": ("/reset-password", "post"),
}


def _with_zone(value: Any) -> Any:
    """docs/contract.md, get-user-by-id: date-times without a zone are read as UTC (`Z`)."""
    if isinstance(value, dict):
        return {k: _with_zone(v) for k, v in value.items()}
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?", value):
        return value + "Z"
    return value


def _with_admin(value: Any) -> Any:
    """docs/contract.md, get-subroles: the example lists `admin`, which every customer has."""
    admin = {
        "code": "admin",
        "label": "Admin",
        "id": "0b0c6a39-4a3e-4d0f-9a51-6f1f2c0e9a11",
        "display_name": "Admin",
    }
    return {**value, "data": [admin, *value["data"]]}


def _unwrapped(value: Any) -> Any:
    """docs/contract.md, sign-in: the example's envelope nested in `data` is unwrapped."""
    return {**value, "data": value["data"]["data"]}


# (page, status) -> how the published example reads once the documented fix is applied.
EXAMPLE_FIXES: dict[tuple[str, str], Callable[[Any], Any]] = {
    ("get-customer-user-by-id.md", "200"): _with_zone,
    ("get-customer-subroles.md", "200"): _with_admin,
    ("customer-sign-in.md", "200"): _unwrapped,
}
# docs/contract.md, sign-in: `permissions` items are objects, as the published example shows them
# (the published schema said strings).
RETYPED = {"customer-sign-in.md 200.data.permissions[]"}
# docs/contract.md, customer-logout.md: an anonymous alternative after the published bearer, so
# that the refresh token alone can end its session once the id_token has expired.
ADDED_SECURITY: dict[str, list[dict[str, list[str]]]] = {"customer-logout.md": [{}]}
# The published free-form `query` object is replaced by named filter parameters (docs/contract.md).
REPLACED_PARAMETERS = {("get-customer-users.md", "query")}


def published(page: str) -> dict[str, Any]:
    """The OpenAPI fragment of a page, its `$ref`s inlined."""
    text = (DOCS / page).read_text(encoding="utf-8")
    match = re.search(r"^````yaml[^\n]*\n(.*?)^````", text, re.S | re.M)
    assert match, f"{page}: no OpenAPI block"
    document = yaml.safe_load(match.group(1))
    return dict(_inline(document, document))


def _inline(node: Any, root: Mapping[str, Any]) -> Any:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            target: Any = root
            for token in node["$ref"].removeprefix("#/").split("/"):
                target = target[token]
            return _inline(target, root)
        return {k: _inline(v, root) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, root) for v in node]
    return node


def ours() -> dict[str, Any]:
    return dict(load_contract(default_contract_path()).resolved)


def _operations(page: str) -> tuple[dict[str, Any], dict[str, Any]]:
    path, method = PAGES[page]
    return dict(published(page)["paths"][path][method]), dict(ours()["paths"][path][method])


def _media(response: Mapping[str, Any]) -> dict[str, Any]:
    return dict((response.get("content") or {}).get("application/json") or {})


def _examples(media: Mapping[str, Any]) -> list[Any]:
    found = [media["example"]] if "example" in media else []
    return found + [e["value"] for e in (media.get("examples") or {}).values()]


def _flatten(schema: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    """The schema and every subschema it is composed of (allOf/anyOf/oneOf)."""
    yield schema
    for key in ("allOf", "anyOf", "oneOf"):
        for sub in schema.get(key) or []:
            yield from _flatten(sub)


def _property(schema: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    for part in _flatten(schema):
        if name in (part.get("properties") or {}):
            return dict(part["properties"][name])
    return None


def _items(schema: Mapping[str, Any]) -> Mapping[str, Any] | None:
    for part in _flatten(schema):
        if "items" in part:
            return dict(part["items"])
    return None


def _types(schema: Mapping[str, Any]) -> set[str]:
    types: set[str] = set()
    for part in _flatten(schema):
        declared = part.get("type")
        types |= set(declared) if isinstance(declared, list) else {declared} if declared else set()
        if "const" in part and part["const"] is None:
            types.add("null")
    return types


def _required(schema: Mapping[str, Any]) -> set[str]:
    return {name for part in _flatten(schema) for name in part.get("required") or []}


def assert_schema_kept(theirs: Mapping[str, Any], mine: Mapping[str, Any], where: str) -> None:
    """Every property, type, format, enum value, example and `required` name of `theirs`."""
    wanted = set(theirs.get("type") if isinstance(theirs.get("type"), list) else [theirs["type"]])
    if theirs.get("nullable"):  # 3.0's nullable: docs/contract.md, `type: [..., "null"]`
        wanted.add("null")
    if theirs.get("type") and where not in RETYPED:
        assert wanted <= _types(mine), f"{where}: type {sorted(wanted)} not in {_types(mine)}"
    for key in ("format", "example"):
        if key in theirs:
            assert any(part.get(key) == theirs[key] for part in _flatten(mine)), (
                f"{where}: {key} {theirs[key]!r} not kept"
            )
    if "enum" in theirs:
        ours_enum = {v for part in _flatten(mine) for v in part.get("enum") or []}
        assert set(theirs["enum"]) <= ours_enum, f"{where}: enum {theirs['enum']} not kept"
    assert set(theirs.get("required") or []) <= _required(mine), f"{where}: required not kept"
    if "minProperties" in theirs:
        assert mine.get("minProperties") == theirs["minProperties"], f"{where}: minProperties"
    for name, sub in (theirs.get("properties") or {}).items():
        counterpart = _property(mine, name)
        assert counterpart is not None, f"{where}: property {name!r} missing"
        assert_schema_kept(sub, counterpart, f"{where}.{name}")
    if "items" in theirs:
        counterpart = _items(mine)
        assert counterpart is not None, f"{where}: items missing"
        assert_schema_kept(theirs["items"], counterpart, f"{where}[]")


def _statuses() -> list[Any]:
    return [
        pytest.param(page, status, id=f"{page.removesuffix('.md')}-{status}")
        for page, (path, method) in PAGES.items()
        for status in published(page)["paths"][path][method]["responses"]
    ]


@pytest.mark.parametrize("page", PAGES)
def test_pages__every_published_status_is_documented(page: str) -> None:
    theirs, mine = _operations(page)
    assert set(theirs["responses"]) <= set(mine["responses"])


@pytest.mark.parametrize(("page", "status"), _statuses())
def test_pages__every_published_answer_is_kept(page: str, status: str) -> None:
    theirs, mine = _operations(page)
    published_response, response = theirs["responses"][status], mine["responses"][status]
    assert response["description"].startswith(published_response["description"].split(" ")[0])
    published_media, media = _media(published_response), _media(response)
    assert_schema_kept(published_media["schema"], media["schema"], f"{page} {status}")
    fix = EXAMPLE_FIXES.get((page, status), lambda value: value)
    for example in _examples(published_media):
        assert fix(copy.deepcopy(example)) in _examples(media), f"{page} {status}: example lost"


@pytest.mark.parametrize(("page", "status"), _statuses())
def test_pages__published_messages_are_kept_word_for_word(page: str, status: str) -> None:
    theirs, mine = _operations(page)
    published_media = _media(theirs["responses"][status])
    ours_text = yaml.safe_dump(_media(mine["responses"][status]), width=10_000)
    for example in _examples(published_media):
        if isinstance(example, dict) and isinstance(example.get("message"), str):
            assert example["message"] in ours_text


@pytest.mark.parametrize("page", PAGES)
def test_pages__summary_tags_security_and_description_are_kept(page: str) -> None:
    theirs, mine = _operations(page)
    assert mine["summary"] == theirs["summary"]
    assert mine["tags"] == theirs["tags"]
    published = theirs.get("security", [])
    assert mine.get("security", []) == published + ADDED_SECURITY.get(page, [])
    assert " ".join(mine["description"].split()).startswith(" ".join(theirs["description"].split()))
    assert mine["operationId"]


@pytest.mark.parametrize("page", PAGES)
def test_pages__parameters_and_request_body_are_kept(page: str) -> None:
    theirs, mine = _operations(page)
    by_name = {(p["name"], p["in"]): p for p in mine.get("parameters") or []}
    for parameter in theirs.get("parameters") or []:
        if (page, parameter["name"]) in REPLACED_PARAMETERS:
            continue
        kept = by_name.get((parameter["name"], parameter["in"]))
        assert kept is not None, f"{page}: parameter {parameter['name']} missing"
        assert kept.get("required", False) == parameter.get("required", False)
        assert_schema_kept(parameter["schema"], kept["schema"], f"{page} {parameter['name']}")
    if "requestBody" in theirs:
        assert mine["requestBody"].get("required", False) == theirs["requestBody"].get("required")
        assert_schema_kept(
            _media(theirs["requestBody"])["schema"], _media(mine["requestBody"])["schema"], page
        )


def test_pages__the_list_filters_replace_the_free_form_query_object() -> None:
    _, mine = _operations("get-customer-users.md")
    names = {p["name"] for p in mine["parameters"] if p["in"] == "query"}
    assert names == {"page", "items_per_page", "status", "subrole", "search"}


def _all_examples(document: Mapping[str, Any]) -> Iterator[tuple[str, Any, Any]]:
    """(where, schema, example) for every media-type example of every operation."""
    for path, item in (document.get("paths") or {}).items():
        for method, operation in item.items():
            if not isinstance(operation, dict):
                continue
            bodies = [("request", operation.get("requestBody") or {})]
            bodies += list((operation.get("responses") or {}).items())
            for status, body in bodies:
                for media_type, media in (body.get("content") or {}).items():
                    for example in _examples(media):
                        yield f"{method} {path} {status} {media_type}", media["schema"], example


@pytest.mark.parametrize("name", ["auth-service.yaml", "operations.yaml"])
def test_contract__every_example_is_valid_against_its_schema(name: str) -> None:
    document = load_contract(default_contract_path(name)).resolved
    checked = 0
    for where, schema, example in _all_examples(document):
        validator = Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)
        errors = [e.message for e in validator.iter_errors(example)]
        assert not errors, f"{where}: {errors}"
        checked += 1
    assert checked >= (25 if name == "auth-service.yaml" else 3)


@pytest.mark.parametrize(
    ("source", "link", "target"),
    [
        ("users.create_customer_user", "GetCustomerUser", "users.get_customer_user"),
        ("users.create_customer_user", "UpdateCustomerUser", "users.update_customer_user"),
        ("users.create_customer_user", "ResendInvite", "customers.resend_invite"),
        ("users.list_customer_users", "GetCustomerUser", "users.get_customer_user"),
        ("users.get_customer_user", "UpdateCustomerUser", "users.update_customer_user"),
        ("users.update_customer_user", "GetCustomerUser", "users.get_customer_user"),
        ("subroles.list_customer_subroles", "ListCustomerUsersWithSubrole", "users.list_customer_users"),
        ("sign_in.customer_sign_in", "RefreshSession", "sign_in.refresh_customer_token"),
        ("sign_in.customer_sign_in", "Logout", "sign_in.customer_logout"),
    ],
)  # fmt: skip
def test_contract__links_chain_the_operations(source: str, link: str, target: str) -> None:
    contract = load_contract(default_contract_path())
    by_id = {op.operation_id: op for op in contract.operations()}
    links = by_id[source].responses["200"]["links"]
    assert links[link]["operationId"] == target
    names = {p["name"] for p in by_id[target].parameters if p["in"] in ("path", "query")}
    assert set(links[link].get("parameters") or {}) <= names
