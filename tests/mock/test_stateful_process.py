"""`authsvc mock SPEC --stateful` as a user starts it: a real process, real HTTP, two sessions."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx

from authsvc.contract import default_contract_path
from tests.mock.test_stateful import BEARER, NEW_USER, users
from tests.support.mock_servers import free_port, wait_until_up
from tests.support.processes import stop


def test_stateful_server__remembers_per_session_and_stops_on_sigterm() -> None:
    port = free_port()
    command = [sys.executable, "-m", "authsvc.mock", str(default_contract_path())]
    process = subprocess.Popen(
        [*command, "--stateful", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        base = f"http://127.0.0.1:{port}"
        wait_until_up(base + "/__mock/state", timeout=60)
        with httpx.Client(base_url=base, headers=BEARER, timeout=10) as client:
            made = client.post(users(), json=NEW_USER, headers={"x-mock-session": "tab-1"})
            assert made.status_code == 200, made.text
            user_id = made.json()["data"]["user_id"]

            listed = client.get(users(), headers={"x-mock-session": "tab-1"}).json()["data"]
            assert [r["email"] for r in listed["records"]] == [NEW_USER["email"]]
            read = client.get(f"{users()}/{user_id}", headers={"x-mock-session": "tab-1"})
            assert read.json()["data"]["first_name"] == NEW_USER["first_name"]

            other = client.get(users(), headers={"x-mock-session": "tab-2"}).json()["data"]
            assert other["records"] == []  # another session never sees tab-1's user

            reset = client.delete("/__mock/state", headers={"x-mock-session": "tab-1"})
            assert reset.status_code == 204
            emptied = client.get(f"{users()}/{user_id}", headers={"x-mock-session": "tab-1"})
            assert emptied.status_code == 404
        # uvicorn shuts down gracefully, then re-raises the signal it caught (as Node's Prism
        # ends): either way the mock is gone, promptly (`stop` would have killed it: -9).
        assert stop(process, timeout=15) in (0, -signal.SIGTERM)
    finally:
        stop(process)
        assert process.stderr is not None
        process.stderr.close()
