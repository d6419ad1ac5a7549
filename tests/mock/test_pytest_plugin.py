"""The pytest11 plugin: importing it starts nothing; its fixtures make the mock one line."""

from __future__ import annotations

import importlib
from importlib.metadata import entry_points

import pytest

from tests.mock.conftest import CONTRACTS


def test_pytest_plugin__imports_without_side_effects() -> None:
    import respx

    module = importlib.import_module("authsvc.mock.serve.pytest_plugin")
    assert hasattr(module, "authsvc_mock")
    assert not respx.mock.routes  # no router was started by the import


@pytest.mark.parametrize(
    ("body", "ini"),
    [
        (
            "def test_it(authsvc_mock):\n"
            "    r = httpx.post('https://api.joinworth.com/auth/api/v1/customers/x/users/y/resend-invite')\n"
            "    assert r.status_code == 401\n",
            "",
        ),
        (
            "def test_it(contract_mock):\n"
            f"    contract_mock({str(CONTRACTS / 'petstore-30.yaml')!r})\n"
            "    r = httpx.delete('http://petstore.test/v2/pets/1')\n"
            "    assert r.status_code == 204\n",
            "",
        ),
        (
            "def test_it(authsvc_mock):\n"
            "    r = httpx.get('http://petstore.test/v2/pets/1', headers={'X-API-Key': 'k'})\n"
            "    assert r.json()['name'] == 'Rex'\n",
            f"[pytest]\nauthsvc_mock_spec = {CONTRACTS / 'petstore-30.yaml'}\n",
        ),
    ],
    ids=["project-contract", "any-contract", "configured-contract"],
)
def test_pytest_plugin__fixture_in_a_client_suite(
    pytester: pytest.Pytester, body: str, ini: str
) -> None:
    if ini:
        pytester.makefile(".ini", pytest=ini)
    pytester.makepyfile("import httpx\n\n" + body)
    # Installed, the package registers the plugin itself; from a checkout, load it by name.
    installed = any(ep.name == "authsvc_mock" for ep in entry_points(group="pytest11"))
    options = ["-q"] if installed else ["-q", "-p", "authsvc.mock.serve.pytest_plugin"]
    result = pytester.runpytest_inprocess(*options)
    result.assert_outcomes(passed=1)
