"""`authsvc mock` / `python -m authsvc.mock`: options, one-line errors, routes printed at startup."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import pytest

from authsvc.mock.serve.cli import add_mock_arguments, build_options, run_mock
from tests.mock.conftest import CONTRACTS
from tests.support.mock_servers import free_port, wait_until_up


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_mock_arguments(parser)
    return parser.parse_args(list(argv))


@pytest.mark.parametrize(
    ("argv", "field", "value"),
    [
        (["s.yaml"], "cors", True),
        (["s.yaml", "--no-cors"], "cors", False),
        (["s.yaml", "--dynamic", "--seed", "4"], "seed", "4"),
        (["s.yaml", "--delay", "150"], "delay_ms", 150),
        (["s.yaml", "--errors"], "errors", True),
    ],
    ids=["cors-default", "no-cors", "seed", "delay", "errors"],
)
def test_cli__options(argv: list[str], field: str, value: object) -> None:
    assert getattr(build_options(_parse(*argv)), field) == value


@pytest.mark.parametrize(
    ("spec", "message"),
    [("missing.yaml", "missing.yaml"), ("bad", "/paths")],
    ids=["missing-file", "invalid-contract"],
)
def test_cli__bad_contract_is_one_line_naming_file_and_pointer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], spec: str, message: str
) -> None:
    if spec == "bad":
        spec = str(tmp_path / "bad.yaml")
        Path(spec).write_text("openapi: 3.1.0\ninfo: {title: t, version: '1'}\npaths: {x: 1}\n")
    assert run_mock(_parse(spec)) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err
    assert message in err


def test_cli__verify_jwt_needs_a_key() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        build_options(_parse("s.yaml", "--verify-jwt"))


def test_cli__module_prints_routes_and_serves() -> None:
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "authsvc.mock",
            str(CONTRACTS / "seed.yaml"),
            "--port",
            str(port),
            "--no-watch",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until_up(f"http://127.0.0.1:{port}/")
        banner = [process.stdout.readline() for _ in range(2)] if process.stdout else []
        assert "1 routes" in banner[0]
        assert f"POST    http://127.0.0.1:{port}/customers/{{customerID}}" in banner[1]
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout:
            process.stdout.close()
