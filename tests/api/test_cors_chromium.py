"""A browser page calls the service: headless Chromium on an allowed origin, and on another one.

The page (served from its own loopback port, so a cross-origin page in Chromium's eyes) fetches
the API with a bearer token and JSON, which makes Chromium send a preflight first, then reads the
status and the exposed headers of a 200, a 401 and a 429. On an origin outside the allowlist the
same calls fail as a browser makes them fail: `TypeError: Failed to fetch`.
"""

from __future__ import annotations

import html
import json
import re
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from authsvc.config import Settings, load_settings
from authsvc.db.engine import make_session_factory
from authsvc.demo import seed_demo_data
from authsvc.factory import build_services, create_app
from tests.api.test_swagger_ui import chromium
from tests.support.live_server import free_port, live_server

PAGE = """<!doctype html><html><body><pre id="out">pending</pre><script>
const api = %(api)s, token = %(token)s, resend = %(resend)s;
async function call(name, url, init) {
  try {
    const r = await fetch(url, init);
    return [name, r.status, r.headers.get("X-Request-ID"), r.headers.get("Retry-After")];
  } catch (e) { return [name, String(e)]; }
}
(async () => {
  const auth = {"Authorization": "Bearer " + token};
  const results = [
    await call("list", api + "/users", {headers: auth}),
    await call("no-token", api + "/users", {}),
    await call("resend", resend, {method: "POST", headers: {...auth, "Content-Type": "application/json"}, body: "{}"}),
    await call("resend-again", resend, {method: "POST", headers: auth}),
  ];
  document.getElementById("out").textContent = "RESULTS" + JSON.stringify(results) + "END";
})();
</script></body></html>"""


@contextmanager
def page_server(port: int, page: str) -> Iterator[None]:
    """`page` at `http://127.0.0.1:{port}/`: another origin than the API's, for the browser."""

    class Page(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = page.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", port), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()


def run_page(binary: str, url: str) -> list[list[Any]]:
    with tempfile.TemporaryDirectory() as profile:
        dom = subprocess.run(
            [
                binary,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                f"--user-data-dir={profile}",
                "--virtual-time-budget=15000",
                "--dump-dom",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
    found = re.search(r'<pre id="out">RESULTS(.*?)END</pre>', dom, re.DOTALL)
    assert found, dom[-2000:]
    return list(json.loads(html.unescape(found.group(1))))


@pytest.fixture
def browser() -> str:
    import os

    binary = chromium()
    if binary is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("chromium is required in CI (apt-get install chromium)")
        pytest.skip("chromium is not installed (apt-get install chromium)")
    return binary


def _served(settings: Settings) -> tuple[Any, dict[str, Any]]:
    from authsvc.cli import demo_info

    services = build_services(settings)
    seed_demo_data(make_session_factory(services.engine, write=True))
    return create_app(settings, services=services), demo_info(settings, "http://unused")


@pytest.mark.parametrize("allowed", [True, False], ids=["allowed-origin", "other-origin"])
def test_browser_page__reads_every_answer_only_from_an_allowed_origin(
    browser: str, tmp_path: Path, database_url: str, allowed: bool
) -> None:
    api_port, page_port = free_port(), free_port()
    page_origin = f"http://127.0.0.1:{page_port}"
    settings = load_settings(
        environment="test",
        data_dir=tmp_path,
        database_url=database_url,
        resend_limit=1,
        cors_origins=(page_origin,) if allowed else ("https://somewhere-else.example",),
    )
    app, demo = _served(settings)
    api = f"http://127.0.0.1:{api_port}/auth/api/v1/customers/{demo['customer_id']}"
    page = PAGE % {
        "api": json.dumps(api),
        "token": json.dumps(demo["admin_token"]),
        "resend": json.dumps(f"{api}/users/{demo['invited_user_id']}/resend-invite"),
    }
    with live_server(app, port=api_port), page_server(page_port, page):
        results = run_page(browser, page_origin + "/")
    by_name = {row[0]: row[1:] for row in results}
    if not allowed:
        assert {name: row[0] for name, row in by_name.items()} == dict.fromkeys(
            by_name, "TypeError: Failed to fetch"
        )
        return
    assert {name: row[0] for name, row in by_name.items()} == {
        "list": 200,
        "no-token": 401,
        "resend": 200,
        "resend-again": 429,
    }
    assert all(re.fullmatch(r"[0-9a-f]{32}", row[1]) for row in by_name.values())
    assert int(by_name["resend-again"][2]) >= 1  # Retry-After, exposed to the page
