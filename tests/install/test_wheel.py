"""The wheel is the product: it carries the contract and everything else, under one import name."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SMOKE = Path(__file__).with_name("smoke_wheel.py")
FOLDERS = {"app": "authsvc", "handlers": "authsvc/handlers", "openapi": "authsvc/openapi"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> zipfile.ZipFile:
    """A wheel built from a copy of the tracked files (a build writes into its source tree)."""
    source = tmp_path_factory.mktemp("source")
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.split(b"\0")
    for name in filter(None, tracked):
        target = source / name.decode()
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((REPO / name.decode()).read_bytes())
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(source)],
        check=True, capture_output=True, timeout=600,
    )  # fmt: skip
    (built,) = out.glob("authsvc-*.whl")
    return zipfile.ZipFile(built)


def _tracked(folder: str, suffixes: tuple[str, ...]) -> set[str]:
    files = subprocess.run(
        ["git", "ls-files", folder], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout.split()
    return {FOLDERS[folder] + name[len(folder) :] for name in files if name.endswith(suffixes)}


def test_wheel__one_import_name(wheel: zipfile.ZipFile) -> None:
    top = {name.split("/")[0] for name in wheel.namelist()}
    assert top == {"authsvc", "authsvc-0.1.0.dist-info"}


@pytest.mark.parametrize("folder", sorted(FOLDERS), ids=sorted(FOLDERS))
def test_wheel__carries_every_module_and_data_file(wheel: zipfile.ZipFile, folder: str) -> None:
    shipped = set(wheel.namelist())
    wanted = _tracked(folder, (".py", ".yaml", ".j2", ".mako", ".txt", "py.typed"))
    assert wanted, folder
    assert wanted - shipped == set()


def test_wheel__entry_points_name_the_package(wheel: zipfile.ZipFile) -> None:
    entry_points = wheel.read("authsvc-0.1.0.dist-info/entry_points.txt").decode()
    assert "authsvc = authsvc.cli:main" in entry_points
    assert "authsvc_mock = authsvc.mock.serve.pytest_plugin" in entry_points


def test_wheel__installed_package_serves_mocks_and_plugs_into_a_client_project() -> None:
    """The same script CI runs in a fresh venv; here in this environment, which tox builds from the
    wheel: serve answers a resend, mock serves a client's contract, the plugin beside `app`."""
    result = subprocess.run(
        [sys.executable, str(SMOKE)], capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "serve: resend answered 200" in result.stdout
    assert "mock: a client's own contract served" in result.stdout
    assert "pytest plugin: a client project with its own app/ and handlers/ passes" in result.stdout
