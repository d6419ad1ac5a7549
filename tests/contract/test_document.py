"""The contract in openapi/: valid 3.1, and a faithful extension of the seed operation."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from authsvc.contract import ContractError, default_contract_path, load_contract

SEED = Path(__file__).resolve().parents[1] / "contracts" / "seed.yaml"
OPERATION = ("/customers/{customerID}/users/{userID}/resend-invite", "post")


def operation_of(document: dict[str, Any]) -> dict[str, Any]:
    path, method = OPERATION
    return dict(document["paths"][path][method])


def test_contract__validates_as_openapi_31() -> None:
    contract = load_contract(default_contract_path())
    assert contract.raw["openapi"] == "3.1.0"
    assert contract.base_path == "/auth/api/v1"
    assert contract.raw["servers"] == load_contract(SEED).raw["servers"]


@pytest.mark.parametrize("status", ["200", "400", "401", "403", "500"])
def test_contract__keeps_every_seed_response_exactly(status: str) -> None:
    ours = operation_of(dict(load_contract(default_contract_path()).resolved))["responses"][status]
    seed = operation_of(dict(load_contract(SEED).resolved))["responses"][status]
    assert ours["description"] == seed["description"]
    assert ours["content"] == seed["content"]


def test_contract__keeps_the_seed_parameters_security_and_scheme() -> None:
    ours, seed = load_contract(default_contract_path()), load_contract(SEED)
    for key in ("parameters", "security", "summary", "description", "tags"):
        assert operation_of(dict(ours.resolved))[key] == operation_of(dict(seed.resolved))[key]
    assert ours.security_schemes() == seed.security_schemes()


def test_contract__documents_the_extensions() -> None:
    responses = operation_of(dict(load_contract(default_contract_path()).resolved))["responses"]
    assert {"404", "429"} <= set(responses)
    assert responses["429"]["headers"]["Retry-After"]["required"] is True
    assert operation_of(dict(load_contract(default_contract_path()).raw))["operationId"]


@pytest.mark.parametrize(
    ("mutate", "pointer"),
    [
        (lambda d: d["info"].pop("title"), "/info"),
        (
            lambda d: d["paths"]["/x"].update({"get": {"responses": "nope"}}),
            "/paths/~1x/get/responses",
        ),
    ],
    ids=["missing-title", "bad-responses"],
)
def test_loader__invalid_contract_names_file_and_pointer(
    tmp_path: Path, mutate: Any, pointer: str
) -> None:
    document = {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {"/x": {}}}
    mutate(document)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(ContractError) as error:
        load_contract(path)
    assert str(error.value).startswith(f"{path}: {pointer}")
    assert "\n" not in str(error.value)
    assert re.search(r"broken\.yaml", str(error.value))


def test_loader__writes_nothing_outside_the_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    document = {"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {}}
    path = tmp_path / "contract.yaml"
    path.write_text(yaml.safe_dump(document))
    load_contract(path)
    load_contract(default_contract_path())
    assert list(home.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["contract.yaml", "home"]
    # Nothing remembered either: an edited contract is validated afresh.
    del document["info"]["title"]
    path.write_text(yaml.safe_dump(document))
    with pytest.raises(ContractError):
        load_contract(path)


@pytest.mark.parametrize("version", ["3.1.0", "3.0.3"])
@pytest.mark.parametrize(
    "schema",
    [{"type": "nope"}, {"properties": {"a": {"minLength": -1}}}, {"required": "a"}],
    ids=["bad-type", "nested-negative-minLength", "required-not-a-list"],
)
def test_loader__invalid_schema_object_reported_as_the_spec_validator_says(
    version: str, schema: dict[str, Any]
) -> None:
    from openapi_spec_validator import OpenAPIV30SpecValidator, OpenAPIV31SpecValidator

    document = {
        "openapi": version,
        "info": {"title": "t", "version": "1"},
        "paths": {},
        "components": {"schemas": {"Thing": schema}},
    }
    stock = OpenAPIV31SpecValidator if version.startswith("3.1") else OpenAPIV30SpecValidator
    expected = next(iter(stock(document).iter_errors()))
    with pytest.raises(ContractError) as error:
        load_contract(document)
    assert error.value.message == expected.message.splitlines()[0]
