"""Malformed request bodies of any depth and encoding get the documented 400 (issue 18, item 6).

Before: JSON nested about 1,000 deep raised RecursionError (a 500, on accept without any token),
a lone `\\ud800` escape in a name or password raised UnicodeEncodeError in the database driver or
the password hash (500), and a create or PATCH without `Content-Type` reached its handler as bytes
(500). Each is now the contract's 400 `VALIDATION_ERROR`, and nothing is written; so is a body of
more than `MAX_JSON_CONTAINERS` arrays and objects (1 MiB of them held the event loop for seconds).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from starlette.testclient import TestClient

from authsvc.db.models import User
from authsvc.services.container import Services
from authsvc.web.connexion31 import MAX_JSON_CONTAINERS, MAX_JSON_DEPTH
from tests.support.contract_check import assert_documented
from tests.support.lifecycle import (
    ACCEPT,
    CREATE,
    PATCH,
    accept_url,
    bearer,
    db,
    new_user_body,
    users_url,
)

OPERATIONS = {"create": CREATE, "accept": ACCEPT, "patch": PATCH}
# The string field each operation's schema types, and the body around it.
TYPED_FIELD = {"create": "first_name", "accept": "password", "patch": "first_name"}


@dataclass(frozen=True)
class Malformed:
    """One malformed request: the operation, the raw JSON of a field (or of the whole body), how
    the body is encoded and labelled."""

    kind: str
    operation: str
    where: str  # "root": `raw` is the body; "typed-field" or "open": `raw` is that field's value
    raw: str
    encoding: str = "utf-8"
    content_type: str | None = "application/json"

    def body(self, valid: dict[str, Any]) -> bytes:
        """The bytes sent: `valid` (a valid body of the operation) with the malformed part."""
        text = self.raw
        if self.where != "root":
            field = TYPED_FIELD[self.operation] if self.where == "typed-field" else "unexpected"
            others = {k: v for k, v in valid.items() if k != field}
            prefix = json.dumps(others, ensure_ascii=False)[:-1]
            text = f"{prefix}{', ' if others else ''}{json.dumps(field)}: {self.raw}}}"
        return text.encode(self.encoding, "surrogatepass")


def deep(operation: str, depth: int, opener: str, where: str) -> Malformed:
    arrays = "[" * depth + "]" * depth
    nested = arrays if opener == "[" else '{"a":' * depth + "1" + "}" * depth
    return Malformed(f"deep-{where}", operation, where, nested)


def wide(operation: str, count: int, where: str) -> Malformed:
    return Malformed(f"wide-{where}", operation, where, "[" + ",".join(["{}"] * count) + "]")


def surrogate(operation: str, escape: str, at: int) -> Malformed:
    value = "Aa1!xxxxxxxx"
    raw = json.dumps(value[:at])[:-1] + escape + json.dumps(value[at:])[1:]
    return Malformed("lone-surrogate", operation, "typed-field", raw)


def undecodable(operation: str, encoding: str, content_type: str) -> Malformed:
    raw = json.dumps("Zoë Aa1!xxxx", ensure_ascii=False)
    return Malformed("encoding", operation, "typed-field", raw, encoding, content_type)


def no_content_type(operation: str) -> Malformed:
    raw = json.dumps("Aa1!xxxxxxxx")
    return Malformed("no-content-type", operation, "typed-field", raw, content_type=None)


operations = st.sampled_from(sorted(OPERATIONS))
openers = st.sampled_from(["[", '{"a":'])
CASES = st.one_of(
    # An array where the body or a string must be an object or a string: refused at any depth.
    st.builds(deep, operations, st.integers(1, 3000), st.just("["), st.just("root")),
    st.builds(deep, operations, st.integers(1, 3000), openers, st.just("typed-field")),
    # A field the schema leaves open (accept's extra properties): only depth decides there.
    st.builds(
        deep, st.just("accept"), st.integers(MAX_JSON_DEPTH + 1, 3000), openers, st.just("open")
    ),
    # More arrays and objects than any body of the contract's fields holds, in a field left open.
    st.builds(wide, st.just("accept"), st.integers(MAX_JSON_CONTAINERS, 300_000), st.just("open")),
    st.builds(
        surrogate,
        operations,
        st.sampled_from(["\\ud800", "\\udbff", "\\udc00", "\\uDFFF"]),
        st.integers(0, 12),
    ),
    # JSON is UTF-8 (RFC 8259): a body in another encoding is malformed, whatever its label.
    st.builds(
        undecodable,
        operations,
        st.sampled_from(["latin-1", "utf-16", "utf-32", "cp1252"]),
        st.sampled_from(
            [
                "application/json",
                "application/json; charset=utf-8",
                "application/json;charset=latin-1",
                "application/json;charset=no-such-charset",
            ]
        ),
    ),
    st.builds(no_content_type, operations),
)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_malformed_body__documented_400_and_nothing_written(
    client: TestClient, demo: dict[str, Any], services: Services
) -> None:
    admin = bearer(demo["admin_token"])
    targets: dict[str, tuple[str, str, dict[str, str], dict[str, Any]]] = {
        "create": (
            "POST",
            users_url(demo["customer_id"]),
            admin,
            new_user_body(services, demo["customer_id"]),
        ),
        # Accept needs no bearer token: this is what anyone on the network can send.
        "accept": ("POST", accept_url("any-invite-token"), {}, {}),
        "patch": ("PATCH", users_url(demo["customer_id"], demo["active_user_id"]), admin, {}),
    }
    user_before = _user(client, demo)
    users_before = _user_count(services)

    def check(case: Malformed) -> None:
        method, path, headers, valid = targets[case.operation]
        if case.content_type is not None:
            headers = {**headers, "Content-Type": case.content_type}
        response = client.request(method, path, content=case.body(valid), headers=headers)
        assert response.status_code == 400, (case.kind, case.operation, response.text)
        body = assert_documented(response, OPERATIONS[case.operation])
        assert body["errorCode"] == "VALIDATION_ERROR", case

    run = given(case=CASES)(check)
    for named in EXAMPLES:  # every case the issue names, on every run, before hypothesis's own
        run = example(case=named)(run)
    hypothesis_settings(max_examples=60, deadline=None, database=None)(run)()
    assert _user(client, demo) == user_before
    assert _user_count(services) == users_before


def _user_count(services: Services) -> int:
    with db(services) as session:
        return session.query(User).count()


def _user(client: TestClient, demo: dict[str, Any]) -> Any:
    response = client.get(
        users_url(demo["customer_id"], demo["active_user_id"]), headers=bearer(demo["admin_token"])
    )
    return response.json()


# Every case the issue names, run on every run (hypothesis adds its own draws after these).
EXAMPLES = [
    deep("create", 1000, "[", "typed-field"),
    deep("create", 1000, '{"a":', "root"),
    deep("accept", 1000, "[", "root"),
    deep("accept", 1000, "[", "open"),
    deep("accept", MAX_JSON_DEPTH + 1, '{"a":', "open"),
    deep("patch", 1000, '{"a":', "typed-field"),
    wide("accept", 349_000, "open"),
    wide("accept", MAX_JSON_CONTAINERS, "open"),
    surrogate("accept", "\\ud800", 4),
    surrogate("create", "\\ud800", 0),
    surrogate("patch", "\\udc00", 12),
    no_content_type("create"),
    no_content_type("patch"),
    no_content_type("accept"),
    undecodable("create", "latin-1", "application/json"),
    undecodable("accept", "utf-16", "application/json"),
    undecodable("patch", "latin-1", "application/json;charset=latin-1"),
    undecodable("create", "utf-16", "application/json;charset=no-such-charset"),
]
