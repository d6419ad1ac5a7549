"""Stateful mode: what a client creates it can list, read, change and delete, per session, and
every answer stays valid against the contract (docs/mock.md, "Stateful mode")."""

from __future__ import annotations

import json
import logging
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from authsvc.contract import Contract, default_contract_path, load_contract
from authsvc.mock import MockEngine, MockOptions, MockRequest, MockResponse, mock_router
from authsvc.mock.engine.store import StateError
from authsvc.mock.serve.sessions import Sessions
from tests.mock.conftest import CONTRACTS

CUSTOMER = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
OTHER_CUSTOMER = "9b2d1f0e-8c7a-4e5b-a3f2-1d0c9b8a7e6f"
SEEDED_CUSTOMER = "497f6eca-6276-4993-bfeb-53cbbbba6f08"  # customerID's sampled value
SEEDED_USER = "94520740-d63c-4e02-85ca-c4e138801e73"
BEARER = {"authorization": "Bearer token"}
NEW_USER = {
    "first_name": "Dana",
    "last_name": "Analyst",
    "email": "dana.analyst@example.com",
    "subrole": {"id": "cececa89-aa54-4433-8184-ec0598392811", "code": "risk_analyst", "label": "R"},
}


class Client:
    """Requests through the serve layer's sessions, as the server and the router send them."""

    def __init__(self, contract: Contract, start: Any = None, **options: Any) -> None:
        self.engine = MockEngine(contract, MockOptions(stateful=True, **options))
        self.sessions = Sessions(self.engine, start)

    def __call__(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        session: str | None = None,
        query: str = "",
        headers: dict[str, str] | None = None,
    ) -> MockResponse:
        sent = {**BEARER, **(headers or {})}
        if session is not None:
            sent["x-mock-session"] = session
        raw = b""
        if body is not None:
            sent["content-type"] = "application/json"
            raw = json.dumps(body).encode()
        request = MockRequest.build(method, path, query=query, headers=sent, body=raw)
        answer = self.sessions.handle(self.engine, request)
        assert answer.header("sl-violations") is None, answer.header("sl-violations")
        return answer


@pytest.fixture(scope="module")
def auth() -> Contract:
    return load_contract(default_contract_path())


def users(customer: str = CUSTOMER) -> str:
    return f"/customers/{customer}/users"


def test_stateful__create_then_list_get_patch(auth: Contract) -> None:
    client = Client(auth)
    created = client("POST", users(), NEW_USER)
    assert created.status == 200
    user_id = created.json()["data"]["user_id"]  # where the create answer's schema puts it
    listed = client("GET", users()).json()["data"]
    assert [r["id"] for r in listed["records"]] == [user_id]
    assert (listed["total_items"], listed["total_pages"]) == ("1", 1)
    read = client("GET", f"{users()}/{user_id}").json()["data"]
    assert (read["email"], read["status"], read["subrole"]["code"]) == (
        "dana.analyst@example.com",
        "INVITED",  # x-mock-defaults of the create operation
        "risk_analyst",
    )
    assert client("PATCH", f"{users()}/{user_id}", {"first_name": "Dora"}).status == 200
    assert client("GET", f"{users()}/{user_id}").json()["data"]["first_name"] == "Dora"


def test_stateful__seeded_from_the_examples(auth: Contract) -> None:
    client = Client(auth)
    found = client("GET", f"{users(SEEDED_CUSTOMER)}/{SEEDED_USER}").json()["data"]
    assert found["company_details"]["name"] == "Sandbox"  # the item GET's example, complete
    assert client("GET", f"{users(CUSTOMER)}/{SEEDED_USER}").status == 404


def test_stateful__parents_scope_children(auth: Contract) -> None:
    client = Client(auth)
    user_id = client("POST", users(CUSTOMER), NEW_USER).json()["data"]["user_id"]
    assert client("GET", users(OTHER_CUSTOMER)).json()["data"]["records"] == []
    missing = client("GET", f"{users(OTHER_CUSTOMER)}/{user_id}")
    assert (missing.status, missing.json()["errorCode"]) == (404, "NOT_FOUND")  # the contract's


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("status=INVITED", ["b", "c"]),
        ("status=ACTIVE", ["a"]),
        ("subrole=cro", ["a"]),
        ("search=BRAVO", ["b"]),
        ("page=2&items_per_page=2", ["c"]),
        ("page=5&items_per_page=2", []),
    ],
    ids=["status", "status-active", "subrole-code", "search", "page-2", "past-the-end"],
)
def test_stateful__list_filters_and_pages(auth: Contract, query: str, expected: list[str]) -> None:
    client = Client(auth, start={})
    ids = {}
    for name in ("alpha", "bravo", "charlie"):
        body = {**NEW_USER, "first_name": name, "email": f"{name}@example.com"}
        if name == "alpha":
            body["subrole"] = {**NEW_USER["subrole"], "code": "cro"}
        ids[name[0]] = client("POST", users(), body).json()["data"]["user_id"]
    client("POST", "/invite/tok/accept", {"password": "Corr3ct-Horse-Battery"})  # alpha: ACTIVE
    found = client("GET", users(), query=query).json()["data"]
    assert [r["id"] for r in found["records"]] == [ids[k] for k in expected]
    total = len(expected) if "page" not in query else 3
    assert found["total_items"] == str(total)


def test_stateful__accept_action_activates_the_first_invited_user(auth: Contract) -> None:
    client = Client(auth, start={})
    user_id = client("POST", users(), NEW_USER).json()["data"]["user_id"]
    accepted = client("POST", "/invite/some-token/accept", {"password": "Corr3ct-Horse-Battery"})
    assert accepted.status == 200
    assert client("GET", f"{users()}/{user_id}").json()["data"]["status"] == "ACTIVE"


def test_stateful__accept_with_a_users_id_as_token_activates_that_user(auth: Contract) -> None:
    client = Client(auth, start={})
    made = {}
    for name in ("alpha", "bravo", "charlie"):
        body = {**NEW_USER, "first_name": name, "email": f"{name}@example.com"}
        made[name] = client("POST", users(), body).json()["data"]["user_id"]
    password = {"password": "Corr3ct-Horse-Battery"}

    assert client("POST", f"/invite/{made['bravo']}/accept", password).status == 200

    def status(name: str) -> str:
        return str(client("GET", f"{users()}/{made[name]}").json()["data"]["status"])

    assert [status(n) for n in made] == ["INVITED", "ACTIVE", "INVITED"]
    # bravo is no longer INVITED: its id now names no match, so the first INVITED user is taken.
    assert client("POST", f"/invite/{made['bravo']}/accept", password).status == 200
    assert [status(n) for n in made] == ["ACTIVE", "ACTIVE", "INVITED"]


def test_stateful__unmapped_action_answers_as_today(auth: Contract) -> None:
    client = Client(auth, start={})
    stateless = MockEngine(auth).handle(
        MockRequest.build("POST", f"{users()}/{SEEDED_USER}/resend-invite", headers=BEARER)
    )
    answer = client("POST", f"{users()}/{SEEDED_USER}/resend-invite")
    assert (answer.status, answer.body) == (stateless.status, stateless.body)


@pytest.mark.parametrize(
    ("headers", "body"),
    [
        ({"prefer": "code=400"}, NEW_USER),
        ({"prefer": "example=anything"}, NEW_USER),
        ({}, {**NEW_USER, "email": "not an address"}),
    ],
    ids=["prefer-code", "prefer-example", "invalid-body"],
)
def test_stateful__stores_nothing_for_preferences_or_invalid_requests(
    auth: Contract, headers: dict[str, str], body: Any
) -> None:
    client = Client(auth, start={})
    request = MockRequest.build(
        "POST",
        users(),
        headers={**BEARER, **headers, "content-type": "application/json"},
        body=json.dumps(body).encode(),
    )
    client.sessions.handle(client.engine, request)
    assert client("GET", users()).json()["data"]["records"] == []


def test_stateful__sessions_are_isolated_and_reset_alone(auth: Contract) -> None:
    client = Client(auth, start={})
    made: dict[str, list[str]] = {"a": [], "b": []}

    def work(session: str) -> None:
        for n in range(20):
            body = {**NEW_USER, "email": f"{session}{n}@example.com"}
            answer = client("POST", users(), body, session=session)
            made[session].append(answer.json()["data"]["user_id"])

    threads = [threading.Thread(target=work, args=(s,)) for s in made]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    for session, ids in made.items():
        listed = client("GET", users(), session=session, query="items_per_page=100")
        assert [r["id"] for r in listed.json()["data"]["records"]] == ids
    assert client("GET", users()).json()["data"]["records"] == []  # the default session
    reset = client("DELETE", "/__mock/state", session="a")
    assert reset.status == 204
    assert client("GET", users(), session="a").json()["data"]["records"] == []
    assert (
        len(
            client("GET", users(), session="b", query="items_per_page=100").json()["data"][
                "records"
            ]
        )
        == 20
    )


def test_stateful__state_endpoint_round_trips_the_fixture_format(auth: Contract) -> None:
    client = Client(auth)
    state = client("GET", "/__mock/state", session="s").json()
    assert list(state) == [users(SEEDED_CUSTOMER)]
    moved = {users(CUSTOMER): state[users(SEEDED_CUSTOMER)]}
    assert client("POST", "/__mock/state", moved, session="s").status == 200
    assert client("GET", f"{users(CUSTOMER)}/{SEEDED_USER}", session="s").status == 200
    assert client("GET", f"{users(SEEDED_CUSTOMER)}/{SEEDED_USER}", session="s").status == 404


@pytest.mark.parametrize(
    ("document", "pointer"),
    [
        ([], ""),
        ({"/nowhere": []}, "/~1nowhere"),
        ({users(): [{"first_name": "no id"}]}, f"/{users().replace('/', '~1')}/0"),
    ],
    ids=["not-an-object", "unknown-collection", "item-without-id"],
)
def test_stateful__a_bad_fixture_is_refused_with_its_pointer(
    auth: Contract, document: Any, pointer: str
) -> None:
    engine = MockEngine(auth, MockOptions(stateful=True))
    with pytest.raises(StateError) as refused:
        Sessions(engine, document)
    assert refused.value.pointer == pointer
    answer = Client(auth)("POST", "/__mock/state", document)
    assert answer.status == 400
    assert answer.json().get("pointer", "") == pointer


def test_stateful__state_that_breaks_the_contract_is_reported(
    auth: Contract, caplog: pytest.LogCaptureFixture
) -> None:
    item = {"id": SEEDED_USER, "status": "BOGUS"}
    engine = MockEngine(auth, MockOptions(stateful=True))
    sessions = Sessions(engine, {users(): [item]})
    with caplog.at_level(logging.WARNING, "authsvc.mock"):
        answer = sessions.handle(
            engine, MockRequest.build("GET", f"{users()}/{SEEDED_USER}", headers=BEARER)
        )
    assert answer.status == 200
    violations = json.loads(answer.header("sl-violations") or "[]")
    assert ["response", "body", "data", "status"] in [v["location"] for v in violations]
    assert "/data/status" in caplog.text


def test_stateful__invented_404_without_a_documented_one(tmp_path: Path) -> None:
    spec = tmp_path / "plain.yaml"
    spec.write_text(
        "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n"
        "  /things:\n    post:\n      requestBody:\n        content:\n"
        "          application/json: {schema: {type: object}}\n"
        "      responses:\n        '201':\n          description: made\n          content:\n"
        "            application/json: {schema: {$ref: '#/components/schemas/Thing'}}\n"
        "  /things/{thingId}:\n    get:\n      parameters:\n"
        "        - {name: thingId, in: path, required: true, schema: {type: string}}\n"
        "      responses:\n        '200':\n          description: ok\n          content:\n"
        "            application/json: {schema: {$ref: '#/components/schemas/Thing'}}\n"
        "components:\n  schemas:\n    Thing:\n      type: object\n"
        "      properties: {id: {type: string, format: uuid}, name: {type: string}}\n",
        encoding="utf-8",
    )
    client = Client(load_contract(spec))
    made = client("POST", "/things", {"name": "x"})
    assert made.status == 201
    assert client("GET", f"/things/{made.json()['id']}").json()["name"] == "x"
    missing = client("GET", "/things/nope")
    assert (missing.status, missing.json()["type"]) == (
        404,
        "https://stoplight.io/prism/errors#NOT_FOUND",
    )


def test_stateful__preflight_allows_the_session_header(auth: Contract) -> None:
    engine = MockEngine(auth, MockOptions(stateful=True))
    request = MockRequest.build(
        "OPTIONS",
        users(),
        headers={
            "origin": "http://localhost:5173",
            "access-control-request-method": "POST",
            "access-control-request-headers": "x-mock-session, content-type",
        },
    )
    answer = Sessions(engine).handle(engine, request)
    assert answer.status == 204
    assert "x-mock-session" in (answer.header("access-control-allow-headers") or "")


def test_stateful__default_is_stateless(auth: Contract) -> None:
    with mock_router(auth):
        base = "https://api.joinworth.com/auth/api/v1"
        httpx.post(f"{base}{users()}", json=NEW_USER, headers=BEARER)
        listed = httpx.get(f"{base}{users()}", headers=BEARER).json()
        assert listed["data"]["records"][0]["id"] == SEEDED_USER  # the example, as before
        assert httpx.get(f"{base}/__mock/state").status_code == 404


# --- the router in a client project ----------------------------------------------------------


def test_router__without_a_path_serves_the_packaged_contract(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # outside this repository
    with mock_router(stateful=True):
        base = "https://api.joinworth.com/auth/api/v1"
        made = httpx.post(f"{base}{users()}", json=NEW_USER, headers=BEARER)
        assert made.status_code == 200


def test_router__relative_path_is_read_from_the_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "api").mkdir()
    (tmp_path / "api" / "pets.yaml").write_bytes(
        (CONTRACTS / "petstore-expanded.yaml").read_bytes()
    )
    monkeypatch.chdir(tmp_path)
    with mock_router("api/pets.yaml", stateful=True):
        made = httpx.post("https://petstore.swagger.io/v2/pets", json={"name": "Rex"})
        # The item GET's sample fills what the body leaves out (`tag`).
        assert (made.json()["name"], made.json()["id"]) == ("Rex", 1)


def test_router__pass_through_hosts_only(auth: Contract) -> None:
    import respx

    with mock_router(auth, pass_through_hosts=["127.0.0.1"]):
        with pytest.raises(httpx.ConnectError):  # let through: nothing listens on port 9
            httpx.get("http://127.0.0.1:9/")
        with pytest.raises(respx.models.AllMockedAssertionError):
            httpx.get("http://elsewhere.test/")


def test_router__each_router_has_its_own_store(auth: Contract) -> None:
    base = "https://api.joinworth.com/auth/api/v1"
    with mock_router(auth, stateful=True):
        httpx.post(f"{base}{users()}", json=NEW_USER, headers=BEARER)
        assert len(httpx.get(f"{base}{users()}", headers=BEARER).json()["data"]["records"]) == 1
    with mock_router(auth, stateful=True):
        assert httpx.get(f"{base}{users()}", headers=BEARER).json()["data"]["records"] == []


def test_pytest_plugin__stateful_fixture_with_a_relative_path(pytester: pytest.Pytester) -> None:
    from importlib.metadata import entry_points

    pytester.makefile(".yaml", pets=(CONTRACTS / "petstore-expanded.yaml").read_text("utf-8"))
    pytester.makepyfile(
        "import httpx\n\n"
        "def test_one(contract_mock):\n"
        "    contract_mock('pets.yaml', stateful=True)\n"
        "    httpx.post('https://petstore.swagger.io/v2/pets', json={'name': 'a'})\n"
        "    assert len(httpx.get('https://petstore.swagger.io/v2/pets').json()) == 1\n\n"
        "def test_two(contract_mock):\n"
        "    contract_mock('pets.yaml', stateful=True)\n"
        "    assert httpx.get('https://petstore.swagger.io/v2/pets').json() == []\n"
    )
    installed = any(ep.name == "authsvc_mock" for ep in entry_points(group="pytest11"))
    options = ["-q"] if installed else ["-q", "-p", "authsvc.mock.serve.pytest_plugin"]
    pytester.chdir()
    (pytester.path / "sub").mkdir()
    result = pytester.runpytest_inprocess(*options, "--rootdir", str(pytester.path))
    result.assert_outcomes(passed=2)


def test_stateful__docs_publish_the_fixture_schema() -> None:
    import re

    from authsvc.mock.engine.store import STATE_SCHEMA

    docs = (Path(__file__).resolve().parents[2] / "docs" / "mock.md").read_text("utf-8")
    block = re.search(r"```json\n(\{\n  \"\$schema\".*?)```", docs, re.S)
    assert block is not None
    assert json.loads(block.group(1)) == STATE_SCHEMA


def test_cli__a_bad_state_file_exits_2_naming_the_pointer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import argparse

    from authsvc.mock.serve.cli import add_mock_arguments, run_mock

    state = tmp_path / "state.json"
    state.write_text(json.dumps({"/nowhere": []}), encoding="utf-8")
    parser = argparse.ArgumentParser()
    add_mock_arguments(parser)
    args = parser.parse_args([str(default_contract_path()), "--state", str(state)])
    assert run_mock(args) == 2
    assert "/~1nowhere" in capsys.readouterr().err
