"""The mock serves the documents teams already have (issue 19 item 1): problems Prism tolerates are
warnings, once each (stderr for `authsvc mock`, `ContractWarning` in-process), `--strict` and
`strict=True` refuse them."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from authsvc.contract import ContractError, ContractWarning
from authsvc.mock.serve.cli import add_mock_arguments, run_mock
from authsvc.mock.serve.router import mock_router

# As hand-written documents have it: no `info`, status codes unquoted, a parameter without a
# schema, a path template nobody declared, a vendor keyword and `examples` in a 3.0 schema.
TEAM_DOCUMENT = """\
openapi: 3.0.0
paths:
  /pets/{id}:
    get:
      parameters:
        - name: verbose
          in: query
        - name: limit
          in: query
          schema: {type: integer, maximum: 10}
      responses:
        200:
          description: a pet
          content:
            application/json:
              schema:
                type: object
                x-orm-table: pets
                examples: [{name: Rex}]
                properties:
                  name: {type: string}
              example: {name: Tom}
        404:
          description: no such pet
"""
PROBLEMS = 4  # no info, the parameter, the schema's `examples`, the undeclared `id`


@pytest.fixture
def team_document(tmp_path: Path) -> Path:
    path = tmp_path / "pets.yaml"
    path.write_text(TEAM_DOCUMENT)
    return path


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_mock_arguments(parser)
    return parser.parse_args([*argv, "--no-watch"])


def test_mock_router__serves_the_document_with_one_warning_per_problem(
    team_document: Path,
) -> None:
    with pytest.warns(ContractWarning) as caught:
        router = mock_router(team_document, base_url="http://pets.test")
    messages = [str(w.message) for w in caught]
    assert len(messages) == PROBLEMS == len(set(messages))
    assert f"{team_document}: /: 'info' is a required property" in messages
    assert f"{team_document}: /paths/~1pets~1{{id}}/get: path parameter 'id' is not declared" in (
        messages
    )
    with router:
        ok = httpx.get("http://pets.test/pets/1")
        invalid = httpx.get("http://pets.test/pets/1?limit=11")
        missing = httpx.get("http://pets.test/pets/1", headers={"Prefer": "code=404"})
    assert (ok.status_code, ok.json()) == (200, {"name": "Tom"})
    assert invalid.status_code == 422
    assert missing.status_code == 404


def test_mock_router__strict_refuses_the_document(team_document: Path) -> None:
    with pytest.raises(ContractError) as refused:
        mock_router(team_document, strict=True)
    assert refused.value.pointer == "/paths/~1pets~1{id}/get/responses/200"


def test_mock_cli__prints_each_problem_once_on_stderr_and_serves(
    team_document: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    served: list[Any] = []
    monkeypatch.setattr(uvicorn, "run", lambda app, **_: served.append(app))
    assert run_mock(_args(str(team_document))) == 0
    err = capsys.readouterr().err.splitlines()
    assert len(err) == PROBLEMS == len(set(err))
    assert all(line.startswith(f"authsvc mock: warning: {team_document}: /") for line in err)
    assert len(served) == 1


def test_mock_cli__strict_exits_2_with_one_line(
    team_document: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run_mock(_args(str(team_document), "--strict")) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "/paths/~1pets~1{id}/get/responses/200: key 200 is an integer" in err


def test_contract_mock_fixture__warns_and_serves(
    team_document: Path, contract_mock: Callable[..., Any]
) -> None:
    with pytest.warns(ContractWarning):
        contract_mock(team_document, base_url="http://fixture.test")
    assert httpx.get("http://fixture.test/pets/7").json() == {"name": "Tom"}
