"""schemathesis CLI hooks (`SCHEMATHESIS_HOOKS=tests.contract.hooks`): aim cases, count answers.

Generated path IDs are random UUIDs (-> 404) or malformed (-> 400 in negative mode). Against the
live service, `before_call` swaps seeded rows into a share of the well-formed cases and picks the
caller's token, so 200, 403 and 429 are reached too; a share goes out with a forged token (401).
Against the mock, a share asks for another documented answer with `Prefer: code=...`, so every
response the mock can serve is validated. `after_call` appends each status to a file that
`run_live` reads to prove which answers the run reached.

Configured by environment variables that `run_live` sets:
    CONTRACT_DEMO_FILE     `authsvc demo --json` output (live service only)
    CONTRACT_STATUS_FILE   where statuses are appended, one per line
    CONTRACT_TARGET        `live` or `mock`
    CONTRACT_TOKEN         the bearer token most cases carry
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import uuid
from pathlib import Path
from typing import Any

import schemathesis

# A well-formed token the service cannot verify: right shape, signature of another key.
FORGED_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
# Not 500: `not_a_server_error` rightly fails any 5xx, documented or not.
MOCK_CODES = {2: "403", 3: "404", 4: "429"}

_lock = threading.Lock()
_demo: dict[str, Any] | None = None


def _load_demo() -> dict[str, Any] | None:
    global _demo
    if _demo is None:
        path = os.environ.get("CONTRACT_DEMO_FILE")
        if path:
            _demo = json.loads(Path(path).read_text())
    return _demo


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _bucket(case: schemathesis.Case, modulo: int) -> int:
    params = case.path_parameters or {}
    digest = hashlib.sha256(f"{case.id}{sorted(params.items())!r}".encode()).hexdigest()
    return int(digest, 16) % modulo


def _well_formed(case: schemathesis.Case) -> bool:
    params = case.path_parameters or {}
    return bool(params) and all(_is_uuid(params.get(k)) for k in ("customerID", "userID"))


def _set_token(case: schemathesis.Case, token: str) -> None:
    headers = dict(case.headers or {})
    if "Authorization" in headers or "authorization" in headers:
        headers.pop("authorization", None)
        headers["Authorization"] = f"Bearer {token}"
        case.headers = headers


def _aim_live(case: schemathesis.Case, demo: dict[str, Any]) -> None:
    if not _well_formed(case):
        return
    params = case.path_parameters or {}
    bucket = _bucket(case, 8)
    if bucket in (0, 1, 2):  # the seeded invited user -> 200, or 429 past the rate limit
        params.update(customerID=demo["customer_id"], userID=demo["invited_user_id"])
    elif bucket == 3:  # another customer's user on this customer's path -> 404
        params.update(customerID=demo["customer_id"], userID=demo["other_invited_user_id"])
    elif bucket == 4:  # the member has no resend permission -> 403
        params.update(customerID=demo["customer_id"], userID=demo["invited_user_id"])
        _set_token(case, demo["member_token"])
    elif bucket == 5:  # the other customer's admin on Acme's user -> 403
        params.update(customerID=demo["customer_id"], userID=demo["invited_user_id"])
        _set_token(case, demo["other_admin_token"])
    elif bucket == 6:  # a forged signature -> 401
        _set_token(case, FORGED_TOKEN)
    # bucket 7: the random IDs as generated -> 404


def _aim_mock(case: schemathesis.Case) -> None:
    if not _well_formed(case):
        return
    code = MOCK_CODES.get(_bucket(case, 8))
    if code is not None:
        case.headers = {**(case.headers or {}), "Prefer": f"code={code}"}


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
        _aim_mock(case)
        return
    demo = _load_demo()
    if demo is not None:
        _aim_live(case, demo)


@schemathesis.hook
def after_call(context: Any, case: schemathesis.Case, response: Any) -> None:
    path = os.environ.get("CONTRACT_STATUS_FILE")
    if not path:
        return
    with _lock, open(path, "a", encoding="ascii") as out:
        out.write(f"{response.status_code}\n")
