"""schemathesis CLI hooks (`SCHEMATHESIS_HOOKS=tests.schemathesis.hooks`): aim cases, count answers.

Against the live service, `before_call` aims each case (`tests/schemathesis/aiming.py`). Against the
mock, a share asks for another documented answer with `Prefer: code=...`, so every response the
mock can serve is validated. `after_call` appends each status to a file that `run_live` reads to
prove which answers the run reached.

Configured by environment variables that `run_live` sets:
    CONTRACT_DEMO_FILE     `authsvc demo --json` output plus `subroles` (live service only)
    CONTRACT_MAIL_DIR      the live service's mail folder (.eml files)
    CONTRACT_STATUS_FILE   where statuses are appended, one per line
    CONTRACT_TARGET        `live` or `mock`
    CONTRACT_TOKEN         the bearer token most cases carry
    CONTRACT_API_URL       the live service's API base (fresh sign-ins for refresh and logout)
"""

from __future__ import annotations

import os
import threading
from typing import Any

import httpx
import schemathesis

from tests.schemathesis.aiming import aim_live, aim_mock, load_demo

_lock = threading.Lock()


@schemathesis.auth()
class BearerToken:
    """The run's token (`CONTRACT_TOKEN`), as an auth provider so that schemathesis still sends
    the cases in which it removes `Authorization` on purpose without it (a CLI `-H` would not)."""

    def get(self, case: schemathesis.Case, context: Any) -> str:
        return os.environ["CONTRACT_TOKEN"]

    def set(self, case: schemathesis.Case, data: str, context: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


@schemathesis.hook
def before_call(context: Any, case: schemathesis.Case, kwargs: dict[str, Any]) -> None:
    if os.environ.get("CONTRACT_TARGET") == "mock":
        aim_mock(case)
        return
    demo = load_demo()
    if demo is not None:
        aim_live(case, demo, sign_in=lambda: _sign_in(demo))


def _sign_in(demo: dict[str, Any]) -> dict[str, Any] | None:
    """A fresh session of the demo admin (development password), over HTTP."""
    api = os.environ.get("CONTRACT_API_URL")
    if not api or not demo.get("admin_password"):
        return None
    response = httpx.post(
        f"{api}/customer/sign-in",
        json={"email": demo["admin_email"], "password": demo["admin_password"]},
        timeout=10,
    )
    return dict(response.json()["data"]) if response.status_code == 200 else None


@schemathesis.hook
def after_call(context: Any, case: schemathesis.Case, response: Any) -> None:
    path = os.environ.get("CONTRACT_STATUS_FILE")
    if not path:
        return
    with _lock, open(path, "a", encoding="ascii") as out:
        out.write(f"{response.status_code}\n")
