"""The respx adapter: same answers as the server, at the contract's base URL, for httpx clients."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from authsvc.contract import Contract, default_contract_path
from authsvc.mock import MockApp, MockEngine, MockRequest, mock_router
from authsvc.mock.serve.router import _ResponseHeaders
from tests.mock.corpus import CASES, RESEND, as_kwargs
from tests.support.mock_servers import running_mock

BASE = "https://api.joinworth.com/auth/api/v1"
SAMPLE = [c for c in CASES if c[1] == "seed.yaml"][:20] + [c for c in CASES if c[1] != "seed.yaml"][
    ::4
]


def _summary(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    skipped = {"date", "server", "content-length", "transfer-encoding"}
    headers = sorted((k, v) for k, v in response.headers.multi_items() if k not in skipped)
    return response.status_code, headers, response.content


@pytest.fixture(scope="module")
def servers(contracts: dict[str, Contract]) -> Any:
    names = sorted({c[1] for c in SAMPLE})
    contexts = {name: running_mock(MockApp(contracts[name])) for name in names}
    urls = {name: ctx.__enter__() for name, ctx in contexts.items()}
    yield urls
    for ctx in contexts.values():
        ctx.__exit__(None, None, None)


@pytest.mark.parametrize("case", SAMPLE, ids=[c[0] for c in SAMPLE])
def test_router__answers_like_the_server(
    servers: dict[str, str], contracts: dict[str, Contract], case: Any
) -> None:
    kwargs = as_kwargs(case)
    over_http = httpx.request(**{**kwargs, "url": servers[case[1]] + kwargs["url"]})
    with mock_router(contracts[case[1]], base_url="http://api.test/v9"):
        in_process = httpx.request(**{**kwargs, "url": "http://api.test/v9" + kwargs["url"]})
    assert _summary(in_process) == _summary(over_http)


class AuthServiceClient:
    """The small client a frontend or another service would write against the contract."""

    def __init__(self, http: httpx.Client) -> None:
        self._http = http

    def resend_invite(self, customer_id: str, user_id: str) -> dict[str, Any]:
        response = self._http.post(f"/customers/{customer_id}/users/{user_id}/resend-invite")
        response.raise_for_status()
        return response.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize(
    ("token", "prefer", "outcome"),
    [("t", None, "Invite mail sent successfully"), (None, None, 401), ("t", "code=429", 429)],
    ids=["sent", "unauthenticated", "rate-limited"],
)
def test_router__drives_an_httpx_client_of_the_auth_service(
    token: str | None, prefer: str | None, outcome: str | int
) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    headers |= {"Prefer": prefer} if prefer else {}
    with mock_router(default_contract_path()), httpx.Client(base_url=BASE, headers=headers) as http:
        client = AuthServiceClient(http)
        c, u = RESEND.split("/")[2], RESEND.split("/")[4]
        if isinstance(outcome, str):
            assert client.resend_invite(c, u)["message"] == outcome
        else:
            with pytest.raises(httpx.HTTPStatusError) as caught:
                client.resend_invite(c, u)
            assert caught.value.response.status_code == outcome


@pytest.mark.parametrize("seed", [1, "abc"], ids=["int", "str"])
def test_router__dynamic_is_repeatable(seed: int | str) -> None:
    url = BASE + RESEND
    bodies = []
    for _ in range(2):
        with mock_router(default_contract_path(), dynamic=True, seed=seed):
            bodies.append(httpx.post(url, headers={"Authorization": "Bearer t"}).content)
    assert bodies[0] == bodies[1]


def test_router__unmatched_host_is_not_mocked() -> None:
    with mock_router(default_contract_path()), pytest.raises(Exception, match="not mocked"):
        httpx.get("http://elsewhere.test/customers")


def test_router__responses_are_built_as_httpx_builds_them(contracts: dict[str, Contract]) -> None:
    """Remembered headers give what `httpx.Response(content=...)` gives, and stay private."""
    headers = _ResponseHeaders()
    engines = {name: MockEngine(contract) for name, contract in contracts.items()}
    for _id, name, method, path, sent, body in CASES * 2:
        path, _, query = path.partition("?")
        answer = engines[name].handle(
            MockRequest.build(method, path, query=query, headers=sent, body=body or b"")
        )
        ours = httpx.Response(
            answer.status, headers=headers(answer), stream=httpx.ByteStream(answer.body)
        )
        ours.read()
        ours.headers["x-changed-by-a-test"] = "1"
        expected = httpx.Response(answer.status, headers=list(answer.headers), content=answer.body)
        assert ours.headers.raw[:-1] == expected.headers.raw, _id
        assert ours.content == expected.content
