"""Contracts nobody here wrote: every one either loads and is served, or is one ContractError line
(the mock CLI prints it and exits 2). Never a RecursionError, a hang, a blown heap, or a file
from outside the contract's directory."""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import pytest

from authsvc.contract import ContractError, load_contract
from authsvc.mock.engine.model import MockRequest
from authsvc.mock.engine.pipeline import MockEngine
from authsvc.mock.serve.cli import add_mock_arguments, run_mock

CONTRACTS = Path(__file__).resolve().parents[1] / "contracts"


def _run_mock(spec: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    parser = argparse.ArgumentParser()
    add_mock_arguments(parser)
    code = run_mock(parser.parse_args([str(spec), "--no-watch"]))
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "said"),
    [
        ("loader-cycle-allof-oneof.yaml", "circular $ref '#/components/schemas/A'"),
        ("loader-cycle-parameter.yaml", "circular $ref '#/components/parameters/Limit'"),
        ("loader-cycle-path-item.yaml", "circular $ref '#/paths/~1"),
        ("loader-alias-bomb.yaml", "YAML aliases expand"),
        ("loader-passwd-ref.yaml", "points outside the contract's directory"),
        ("loader-remote-ref.yaml", "remote reference https://example.com/schemas/thing.json"),
    ],
    ids=[
        "allOf-oneOf-cycle",
        "self-parameter",
        "path-item-cycle",
        "alias-bomb",
        "passwd",
        "remote",
    ],
)
def test_mock_cli__unservable_contract_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str], name: str, said: str
) -> None:
    code, err = _run_mock(CONTRACTS / name, capsys)
    assert code == 2
    assert err.count("\n") == 1, err
    assert err.startswith(f"authsvc mock: {CONTRACTS / name}: ")
    assert said in err
    assert "Traceback" not in err
    assert "RecursionError" not in err


@pytest.mark.parametrize(
    "name",
    ["loader-cycle-allof-oneof.yaml", "loader-alias-bomb.yaml", "loader-passwd-ref.yaml"],
    ids=["cycle", "alias-bomb", "passwd"],
)
def test_load_contract__hostile_contract_is_a_contract_error(name: str) -> None:
    with pytest.raises(ContractError) as caught:
        load_contract(CONTRACTS / name)
    assert "\n" not in str(caught.value)


def test_alias_bomb__refused_fast_and_small() -> None:
    """A 600-byte document that expands to 387 million strings: refused in a fresh process.

    Its peak memory is VmHWM, which starts afresh at exec; ru_maxrss would carry the forking
    pytest process's own peak over into the child.
    """
    script = (
        "import re, sys, time\n"
        "from authsvc.contract import ContractError, load_contract\n"
        "t = time.perf_counter()\n"
        "try:\n"
        f"    load_contract({str(CONTRACTS / 'loader-alias-bomb.yaml')!r})\n"
        "except ContractError as exc:\n"
        "    status = open('/proc/self/status').read()\n"
        "    print(time.perf_counter() - t, re.search(r'VmHWM:\\s+(\\d+)', status).group(1))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    seconds, max_rss_kib = done.stdout.split()
    assert float(seconds) < 5.0  # generous: it takes milliseconds (the bomb took 40 s)
    assert int(max_rss_kib) < 400 * 1024  # the bomb took 2.4 GB


def test_passwd_in_example__served_as_written_never_the_file() -> None:
    engine = MockEngine(load_contract(CONTRACTS / "loader-passwd-in-example.yaml"))
    response = engine.handle(MockRequest.build("GET", "/leak"))
    assert response.status == 200
    assert response.json() == {"$ref": "../../../../../../etc/passwd"}
    assert b"root:" not in response.body


def test_remote_ref_in_example__is_data_not_fetched() -> None:
    engine = MockEngine(load_contract(CONTRACTS / "loader-remote-ref-in-example.yaml"))
    response = engine.handle(MockRequest.build("GET", "/schema"))
    assert response.status == 200
    assert response.json() == {
        "$ref": "https://json-schema.org/draft/2020-12/schema",
        "properties": {"owner": {"$ref": "#/definitions/owner"}},
    }


def test_symlink_out_of_the_contract_directory__refused(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.yaml").write_text("type: string\n")
    home = tmp_path / "contract"
    home.mkdir()
    (home / "schemas.yaml").symlink_to(outside / "secret.yaml")
    (home / "api.yaml").write_text(
        "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /x:\n    get:\n"
        "      responses:\n        '200':\n          description: x\n          content:\n"
        "            application/json:\n              schema: {$ref: 'schemas.yaml'}\n"
    )
    with pytest.raises(ContractError, match="outside the contract's directory"):
        load_contract(home / "api.yaml")


def test_file_reference_inside_the_directory__resolves(tmp_path: Path) -> None:
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "thing.yaml").write_text(
        "type: object\nrequired: [id]\nproperties:\n  id: {type: integer}\n"
        "  next: {$ref: '#'}\nexample: {id: 1}\n"
    )
    (tmp_path / "api.yaml").write_text(
        "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths:\n  /x:\n    get:\n"
        "      responses:\n        '200':\n          description: x\n          content:\n"
        "            application/json:\n              schema: {$ref: 'schemas/thing.yaml'}\n"
    )
    contract = load_contract(tmp_path / "api.yaml")
    engine = MockEngine(contract)
    response = engine.handle(MockRequest.build("GET", "/x"))
    assert (response.status, response.json()) == (200, {"id": 1})
    check = next(iter(contract.plans.values())).response(200, "application/json")
    assert check is not None
    assert check.validator.is_valid({"id": 1, "next": {"id": 2}})
    assert not check.validator.is_valid({"id": 1, "next": {"id": "two"}})


def test_recursive_schemas_that_are_json_schema__keep_working() -> None:
    contract = load_contract(CONTRACTS / "loader-recursive-ok.yaml")
    engine = MockEngine(contract)
    tree = b'{"name": "root", "children": [{"name": "leaf", "parent": null}]}'
    ok = engine.handle(
        MockRequest.build("POST", "/tree", headers={"content-type": "application/json"}, body=tree)
    )
    assert ok.status == 200
    assert '"location":["request"' not in (ok.header("sl-violations") or "")
    bad = engine.handle(
        MockRequest.build(
            "POST",
            "/tree",
            headers={"content-type": "application/json"},
            body=b'{"name": "root", "children": [{"name": 7}]}',
        )
    )
    assert bad.status == 422


def test_deeply_nested_document__is_a_contract_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text(
        "openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths: {}\nx-deep: "
        + "[" * 20000
        + "]" * 20000
        + "\n"
    )
    started = time.perf_counter()
    with pytest.raises(ContractError):
        load_contract(path)
    assert time.perf_counter() - started < 30


def test_long_reference_chain__loads_and_validates(tmp_path: Path) -> None:
    """900 schemas, each owning the previous one: the resolved view stays shallow, the
    validators follow the remaining `$ref`s (this was a RecursionError)."""
    schemas = {
        f"S{i}": {
            "type": "object",
            "properties": {"id": {"type": "integer"}}
            | ({"owner": {"$ref": f"#/components/schemas/S{i - 1}"}} if i else {}),
        }
        for i in range(900)
    }
    document = {
        "openapi": "3.1.0",
        "info": {"title": "chain", "version": "1"},
        "paths": {
            "/top": {
                "post": {
                    "requestBody": {
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/S899"}}
                        }
                    },
                    "responses": {"204": {"description": "stored"}},
                }
            }
        },
        "components": {"schemas": schemas},
    }
    contract = load_contract(document)
    engine = MockEngine(contract)
    nested: dict[str, object] = {"id": 0}
    for i in range(1, 50):  # the body nests 50 deep: well past MAX_INLINED_HEIGHT
        nested = {"id": i, "owner": nested}
    import json

    def ask(body: object) -> int:
        request = MockRequest.build(
            "POST",
            "/top",
            headers={"content-type": "application/json"},
            body=json.dumps(body).encode(),
        )
        return engine.handle(request).status

    assert ask(nested) == 204
    nested["owner"]["owner"]["owner"]["id"] = "not an integer"  # type: ignore[index]
    assert ask(nested) == 422


def test_load_contract__default_outside_its_format_loads() -> None:
    """A `default` is checked against its schema, not its format (Prism serves such documents)."""
    contract = load_contract(CONTRACTS / "loader-format-in-default.yaml")
    (operation,) = contract.operations()
    assert operation.parameters[0]["schema"]["default"] == ""
