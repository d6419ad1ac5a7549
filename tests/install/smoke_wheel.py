"""Smoke-test an installed `authsvc` the way its users meet it, from outside any checkout.

Run with the Python of an environment where the wheel is installed (CI: a fresh venv with only the
wheel and pytest; the test suite: its own environment, which tox also builds from the wheel):

    python tests/install/smoke_wheel.py

Three users, each in a throwaway directory that is the working directory (nothing is read from
the repository, nothing is written outside the temporary directory):
1. a backend team: `authsvc serve` on the embedded defaults answers a resend with 200;
2. a client team: `authsvc mock` serves their own contract;
3. a client project with its own `app` and `handlers` packages uses the pytest plugin, and both
   its packages and the plugin import.
Standard library and httpx only (httpx is a dependency of the package). Exit 0 means all passed.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

SCRIPTS = Path(sys.executable).parent
AUTHSVC = shutil.which("authsvc", path=str(SCRIPTS)) or "authsvc"
CLIENT_CONTRACT = """\
openapi: 3.0.3
info: {title: Client pets, version: "1"}
servers: [{url: "http://pets.client.test/v1"}]
paths:
  /pets/{petId}:
    get:
      parameters:
        - {name: petId, in: path, required: true, schema: {type: integer}}
      responses:
        "200":
          description: a pet
          content:
            application/json:
              schema:
                type: object
                properties: {id: {type: integer}, name: {type: string}}
              example: {id: 7, name: Rex}
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTHSVC_")}
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"), PYTHONDONTWRITEBYTECODE="1")
    return env


@contextmanager
def _process(args: list[str], cwd: Path, env: dict[str, str], url: str) -> Iterator[None]:
    """Start a server process and wait until `url` answers; always stop it."""
    log = (cwd / f"{Path(args[0]).name}-{args[1]}.log").open("wb")
    proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                log.flush()
                raise SystemExit(
                    f"{args[:2]} exited {proc.returncode}:\n{Path(log.name).read_text()}"
                )
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise SystemExit(f"{args[:2]} did not answer {url} within 60 s") from None
                time.sleep(0.1)
        yield
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def check_serve(work: Path) -> None:
    data, port = work / "data", _free_port()
    env = _env(work)
    demo = subprocess.run(
        [AUTHSVC, "demo", "--data-dir", str(data), "--json", "--base-url", f"http://127.0.0.1:{port}"],
        cwd=work, env=env, capture_output=True, text=True, check=True, timeout=120,
    )  # fmt: skip
    info = json.loads(demo.stdout)
    serve = [AUTHSVC, "serve", "--data-dir", str(data), "--port", str(port)]
    with _process(serve, work, env, f"http://127.0.0.1:{port}/healthz"):
        url = (
            f"{info['base_url']}/customers/{info['customer_id']}"
            f"/users/{info['invited_user_id']}/resend-invite"
        )
        answer = httpx.post(url, headers={"Authorization": f"Bearer {info['admin_token']}"})
        assert answer.status_code == 200, (answer.status_code, answer.text)
        assert answer.json() == {"status": "success", "message": "Invite mail sent successfully"}
        swagger = httpx.get(f"http://127.0.0.1:{port}/auth/api/v1/openapi.json")
        assert swagger.status_code == 200
        assert swagger.json()["openapi"].startswith("3.1")
        deadline = time.monotonic() + 30
        while not list((data / "mail").glob("*.eml")):  # the in-process delivery loop's work
            assert time.monotonic() < deadline, "no invite .eml was delivered within 30 s"
            time.sleep(0.1)
    print("serve: resend answered 200 from", work)


def check_mock(work: Path) -> None:
    contract = work / "client.yaml"
    contract.write_text(CLIENT_CONTRACT)
    port = _free_port()
    mock = [AUTHSVC, "mock", str(contract), "--port", str(port)]
    with _process(mock, work, _env(work), f"http://127.0.0.1:{port}/"):
        answer = httpx.get(f"http://127.0.0.1:{port}/pets/7")  # Prism routes on the paths alone
        assert answer.status_code == 200, (answer.status_code, answer.text)
        assert answer.json() == {"id": 7, "name": "Rex"}
    print("mock: a client's own contract served")


def check_pytest_plugin(work: Path) -> None:
    project = work / "client-project"
    for package in ("app", "handlers"):
        (project / package).mkdir(parents=True)
        (project / package / "__init__.py").write_text(f"OWNER = 'client {package}'\n")
    (project / "client.yaml").write_text(CLIENT_CONTRACT)
    (project / "pytest.ini").write_text("[pytest]\nauthsvc_mock_spec = client.yaml\n")
    (project / "test_client.py").write_text(
        textwrap.dedent(
            """\
            import httpx

            import app
            import handlers


            def test_own_packages_are_not_shadowed():
                assert app.OWNER == "client app"
                assert handlers.OWNER == "client handlers"


            def test_plugin_serves_the_configured_contract(authsvc_mock):
                assert httpx.get("http://pets.client.test/v1/pets/1").json()["name"] == "Rex"


            def test_plugin_serves_any_contract(contract_mock):
                from authsvc.contract import default_contract_path

                contract_mock(default_contract_path())
                url = "https://api.joinworth.com/auth/api/v1/customers/x/users/y/resend-invite"
                assert httpx.post(url).status_code == 401
            """
        )
    )
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project, env=_env(work), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    if result.returncode != 0:
        raise SystemExit(f"client project's pytest failed:\n{result.stdout}\n{result.stderr}")
    print("pytest plugin: a client project with its own app/ and handlers/ passes")


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="authsvc-wheel-smoke-") as tmp:
        work = Path(tmp)
        check_serve(work)
        check_mock(work)
        check_pytest_plugin(work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
