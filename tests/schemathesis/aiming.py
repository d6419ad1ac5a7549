"""Aim schemathesis cases at the live service's seeded rows (used by the CLI hooks and in-process).

Generated path IDs are random UUIDs (-> 403/404) or malformed (-> 400 in negative mode).
`aim_live` swaps seeded rows into a share of the well-formed cases and picks the caller's token, so
200, 403 and 429 are reached too; a share goes out with a forged token (401). For the operations
that write, positive cases are made acceptable the way a client would make them: a subrole of the
customer (from `GET .../subroles`), an e-mail address no other user has, and, for accept, an
invite token read from the mail folder (`CONTRACT_MAIL_DIR`) with a password that passes the
published rules. The stateful phase follows the contract's links (create -> get, patch, resend;
list -> get; ...): its linked IDs are kept, only the customer of a chain's first step is aimed.
Users whose tokens the run uses are never patched (a deactivated admin would turn the rest of the
run into 401s); such a PATCH is aimed at the demo's spare active user instead.

Sessions: a share of positive sign-ins carries the demo admin's development password (-> 200); a
share of refreshes carries a refresh token of a fresh sign-in (-> 200); every logout that would
carry the run's token carries a fresh sign-in's `id_token` instead (ending the run's own session
would turn the rest of the run into 401s), and a share of positive ones a bearer that does not
verify with that sign-in's refresh token in the body (the expired-id_token logout, -> 200). Fresh sign-ins come from the caller's `sign_in`
callable (HTTP for the CLI run, the ASGI app in-process); without one, logout gets a forged token.
Forgot: a share goes to the spare active user, or to users this run created and onboarded, never
to a token holder (a reset ends every session of its user); reset: a share carries the newest
unused reset token of the mail folder with a password that passes the rules.

Which share a case falls in is a round robin per operation (`_bucket`), not a random draw, so that
every aimed answer is reached in any run with enough well-formed cases.

Importing this module registers nothing with schemathesis (hooks.py does, for the CLI).
"""

from __future__ import annotations

import base64
import email
import email.policy
import functools
import itertools
import json
import os
import re
import threading
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import schemathesis
from schemathesis.core.parameters import ParameterLocation
from schemathesis.generation.meta import TestPhase

from authsvc.contract import default_contract_path, load_contract

# A well-formed token the service cannot verify: right shape, signature of another key.
FORGED_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"
# Not 500: `not_a_server_error` rightly fails any 5xx, documented or not.
MOCK_CODES = {2: "403", 3: "404", 4: "429"}
GOOD_PASSWORD = "Stateful-Run-Passw0rd!"
LINK = re.compile(r"/invite/([A-Za-z0-9_-]+)")
RESET_LINK = re.compile(r"/reset-password\?token=([A-Za-z0-9_-]+)")
SPARE_USER_EMAIL = "abe.active@example.com"  # the demo's spare active user (no token of the run)
SignIn = Callable[[], dict[str, Any] | None]  # a fresh sign-in's `data`, or None
TOKEN_KEYS = ("admin_token", "member_token", "other_admin_token", "platform_admin_token")

_lock = threading.Lock()
_demo: dict[str, Any] | None = None
_used_invites: set[str] = set()
_used_resets: set[str] = set()
_created_emails: set[str] = set()
_onboarded_emails: list[str] = []
_rounds: defaultdict[str, Iterator[int]] = defaultdict(itertools.count)


def load_demo() -> dict[str, Any] | None:
    """The demo file `run_live` wrote (`CONTRACT_DEMO_FILE`), read once."""
    global _demo
    if _demo is None:
        path = os.environ.get("CONTRACT_DEMO_FILE")
        if path:
            _demo = prepare_demo(json.loads(Path(path).read_text()))
    return _demo


def prepare_demo(demo: dict[str, Any]) -> dict[str, Any]:
    """`authsvc demo --json` (plus `subroles`) with the ids of the users whose tokens the run uses."""
    demo["protected_user_ids"] = sorted({_subject(demo[key]) for key in TOKEN_KEYS if key in demo})
    return demo


def _subject(token: str) -> str:
    """The `sub` of a demo token (its payload, unverified: the run minted it)."""
    payload = token.split(".")[1]
    return str(json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["sub"])


def _is_uuid(value: Any) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def _bucket(case: schemathesis.Case, modulo: int) -> int:
    """The next share of this operation, in turn: deterministic, and every share comes round.

    (It was a hash of the case's random id, so a short run could miss a share altogether: the
    in-process run's "resend-invite never answered 404" on one backend.)
    """
    with _lock:
        return next(_rounds[f"{case.operation.method} {case.operation.path} {modulo}"]) % modulo


def _well_formed(case: schemathesis.Case) -> bool:
    """Every path parameter is of its documented kind (IDs are UUIDs, tokens base64url)."""
    params = case.path_parameters or {}
    if not params:
        return False
    for name, value in params.items():
        if name.endswith("ID") and not _is_uuid(value):
            return False
        if name == "inviteToken" and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(value)):
            return False
    return True


def _positive(case: schemathesis.Case) -> bool:
    return case.meta is None or not case.meta.generation.mode.is_negative


def _positive_body(case: schemathesis.Case) -> bool:
    meta = case.meta
    if meta is not None and (
        meta.generation.mode.is_negative or meta.is_negative_at(ParameterLocation.BODY)
    ):
        return False
    return isinstance(case.body, dict)


def _stateful(case: schemathesis.Case) -> bool:
    return case.meta is not None and case.meta.phase.name == TestPhase.STATEFUL


def _set_token(case: schemathesis.Case, token: str) -> None:
    """Swap the caller, unless schemathesis changed or removed the run's token on purpose."""
    headers = dict(case.headers or {})
    current = headers.pop("Authorization", None) or headers.pop("authorization", None)
    default = os.environ.get("CONTRACT_TOKEN")
    if current is not None and (default is None or current == f"Bearer {default}"):
        headers["Authorization"] = f"Bearer {token}"
        case.headers = headers


def _key(case: schemathesis.Case) -> tuple[str, str]:
    return case.operation.method.upper(), case.operation.path


@functools.cache
def _email_pattern() -> re.Pattern[str]:
    schemas = load_contract(default_contract_path()).raw["components"]["schemas"]
    return re.compile(schemas["Email"]["pattern"])


def _unique_email(original: Any) -> str:
    """The generated address made unique; remembered, so that accept uses only these invites."""
    local, _, domain = str(original).rpartition("@")
    tag = uuid.uuid4().hex[:12]
    unique = f"{tag}{local}@{domain}"
    if len(unique) > 254 or not _email_pattern().match(unique):
        unique = f"st{tag}@{domain}" if domain else f"st{tag}@example.com"
    if len(unique) > 254 or not _email_pattern().match(unique):
        unique = f"st{tag}@example.com"
    with _lock:
        _created_emails.add(unique.lower())
    return unique


def _make_acceptable(case: schemathesis.Case, demo: dict[str, Any]) -> None:
    """A positive create/patch body as a client would send it: a real subrole, a fresh e-mail."""
    if not _positive_body(case):
        return
    body = dict(case.body)
    if "subrole" in body:
        subroles = demo["subroles"]
        chosen = subroles[_bucket(case, len(subroles))]
        body["subrole"] = {k: chosen[k] for k in ("id", "code", "label")}
    if "email" in body:
        body["email"] = _unique_email(body["email"])
    case.body = body


def _aim_customer(case: schemathesis.Case, demo: dict[str, Any]) -> str | None:
    """Operations on a customer's collection: list, create, subroles."""
    token: str | None = None
    params = case.path_parameters or {}
    bucket = _bucket(case, 10)
    if bucket <= 5:  # Acme, as its admin -> 200
        params["customerID"] = demo["customer_id"]
    elif bucket == 6:  # Acme's CRO: may read, may not write -> 200 or 403
        params["customerID"] = demo["customer_id"]
        token = demo["member_token"]
    elif bucket == 7:  # the other customer's admin on Acme -> 403
        params["customerID"] = demo["customer_id"]
        token = demo["other_admin_token"]
    elif bucket == 8:  # a forged signature -> 401
        token = FORGED_TOKEN
    # bucket 9: the random customer as generated -> 403 for Acme's admin
    if params.get("customerID") == demo["customer_id"]:
        _make_acceptable(case, demo)
        if _stateful(case) and case.operation.method.upper() == "GET" and _positive(case):
            # The first page of every user (of one subrole, when a link chose it), so that the
            # link to get finds a record.
            codes = {s["code"] for s in demo["subroles"]}
            chosen = (case.query or {}).get("subrole")
            case.query = {"subrole": chosen} if chosen in codes else {}
    return token


def _aim_user(case: schemathesis.Case, demo: dict[str, Any], method: str) -> str | None:
    """Operations on one user: get, patch, resend."""
    token: str | None = None
    params = case.path_parameters or {}
    # Patching Ivy would deactivate or re-address the invite the resend cases count on.
    target = demo["active_user_id"] if method == "PATCH" else demo["invited_user_id"]
    bucket = _bucket(case, 8)
    if bucket in (0, 1, 2):  # the seeded user -> 200 (429 past the resend limit)
        params.update(customerID=demo["customer_id"], userID=target)
    elif bucket == 3:  # another customer's user on this customer's path -> 404
        params.update(customerID=demo["customer_id"], userID=demo["other_invited_user_id"])
    elif bucket == 4:  # Acme's CRO: may read only -> 200 or 403
        params.update(customerID=demo["customer_id"], userID=target)
        token = demo["member_token"]
    elif bucket == 5:  # the other customer's admin on Acme's user -> 403
        params.update(customerID=demo["customer_id"], userID=target)
        token = demo["other_admin_token"]
    elif bucket == 6:  # a forged signature -> 401
        token = FORGED_TOKEN
    # bucket 7: the random IDs as generated -> 404
    return token


def _fresh_invite_token() -> str | None:
    """The newest unused invite token in the mail folder sent to a user this run created.

    The demo's own invited user is left alone: accepting her invite would end the resend cases'
    200s and 429s.
    """
    folder = os.environ.get("CONTRACT_MAIL_DIR")
    if not folder or not Path(folder).is_dir():
        return None
    with _lock:
        for path in sorted(
            Path(folder).glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True
        ):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if str(message["To"]).strip().lower() not in _created_emails:
                continue
            body = message.get_body(("plain",))
            text = body.get_content() if body is not None else ""
            for token in LINK.findall(text):
                if token not in _used_invites:
                    _used_invites.add(token)
                    _onboarded_emails.append(str(message["To"]).strip().lower())
                    return str(token)
    return None


def _fresh_reset_token() -> str | None:
    """The newest unused reset token in the mail folder (earlier ones were revoked by it).

    Only of a mail to a user `_aim_forgot` aims at: a reset ends every session of its user, so a
    reset of a token holder (the demo admin, say, whose address an example may name) would turn
    the rest of the run into 401s.
    """
    folder = os.environ.get("CONTRACT_MAIL_DIR")
    if not folder or not Path(folder).is_dir():
        return None
    with _lock:
        allowed = {SPARE_USER_EMAIL, *_onboarded_emails}
        for path in sorted(
            Path(folder).glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True
        ):
            message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
            if str(message["To"]).strip().lower() not in allowed:
                continue
            body = message.get_body(("plain",))
            text = body.get_content() if body is not None else ""
            for token in RESET_LINK.findall(text):
                if token not in _used_resets:
                    _used_resets.add(token)
                    return str(token)
    return None


def _aim_sign_in(case: schemathesis.Case, demo: dict[str, Any]) -> None:
    """A share of positive sign-ins carries the demo admin's development password (-> 200)."""
    if demo.get("admin_password") and _positive_body(case) and _bucket(case, 3) == 0:
        case.body = {"email": demo["admin_email"], "password": demo["admin_password"]}


def _aim_refresh(case: schemathesis.Case, sign_in: SignIn | None) -> None:
    """A share of positive refreshes (outside a linked chain) carries a live refresh token."""
    if sign_in is None or _stateful(case) or not _positive_body(case) or _bucket(case, 2):
        return
    data = sign_in()
    if data is not None:
        case.body = {**dict(case.body), "refresh_token": data["refresh_token"]}


def _aim_logout(case: schemathesis.Case, sign_in: SignIn | None) -> str:
    """A fresh session's bearer for any logout that would end the run's own session.

    A share of positive ones (outside a linked chain) is the client whose id_token has expired:
    a bearer that does not verify, and the fresh session's refresh token in the body, which alone
    ends that session (200; docs/contract.md, customer-logout.md).
    """
    data = sign_in() if sign_in is not None else None
    if data is None:
        return FORGED_TOKEN
    if not _stateful(case) and _positive_body(case) and _bucket(case, 3) == 0:
        case.body = {**dict(case.body), "refresh_token": data["refresh_token"]}
        return FORGED_TOKEN
    return str(data["id_token"])


def _aim_forgot(case: schemathesis.Case) -> None:
    """A share of positive forgots names a user who may get a reset mail and holds no run token."""
    if not _positive_body(case) or _bucket(case, 2):
        return
    with _lock:
        targets = [SPARE_USER_EMAIL, *_onboarded_emails[-3:]]
    case.body = {**dict(case.body), "email": targets[_bucket(case, len(targets))]}


def _aim_reset(case: schemathesis.Case) -> None:
    """A share of positive resets carries a real reset token and a password that passes."""
    if not _positive_body(case) or _bucket(case, 2):
        return
    token = _fresh_reset_token()
    if token is not None:
        case.body = {**dict(case.body), "reset_token": token, "password": GOOD_PASSWORD}


def _aim_accept(case: schemathesis.Case) -> None:
    """A share of positive accepts carry a real invite token and a password that passes."""
    if not _positive_body(case) or not _well_formed(case) or _bucket(case, 3) != 0:
        return
    token = _fresh_invite_token()
    if token is not None:
        (case.path_parameters or {})["inviteToken"] = token
        case.body = {**dict(case.body), "password": GOOD_PASSWORD}


def _protect_token_holders(case: schemathesis.Case, demo: dict[str, Any]) -> None:
    """A PATCH of a token holder, or of Ivy (the resend cases' user), goes to Abe instead."""
    params = case.path_parameters or {}
    protected = {*demo["protected_user_ids"], demo["invited_user_id"]}
    if str(params.get("userID")) in protected:
        params["userID"] = demo["active_user_id"]


def aim_live(
    case: schemathesis.Case, demo: dict[str, Any], sign_in: SignIn | None = None
) -> str | None:
    """Aim one case of the live service at seeded rows and pick its caller (see the module doc).

    Returns the caller's token when the case should not carry the run's default one; a case that
    carries an `Authorization` header gets it there already.
    """
    method, path = _key(case)
    token: str | None = None
    if path == "/invite/{inviteToken}/accept":
        _aim_accept(case)
    elif path == "/customer/sign-in":
        _aim_sign_in(case, demo)
    elif path == "/refresh-token/customer":
        _aim_refresh(case, sign_in)
    elif path == "/customer/logout":
        token = _aim_logout(case, sign_in)
    elif path == "/forgot-password":
        _aim_forgot(case)
    elif path == "/reset-password":
        _aim_reset(case)
    elif not _well_formed(case):
        pass
    elif "{userID}" in path:
        if not _stateful(case):  # a linked step keeps the user its link produced
            token = _aim_user(case, demo, method)
        if method == "PATCH":
            _protect_token_holders(case, demo)
            _make_acceptable(case, demo)
    else:
        token = _aim_customer(case, demo)
    if token is not None:
        _set_token(case, token)
    return token


def aim_mock(case: schemathesis.Case) -> None:
    """A share of the well-formed cases asks the mock for another documented status.

    Never in the stateful phase: a chain's next step (get the user just created) asked for a 404
    would be schemathesis' "created resource not found", of our own making.
    """
    if not _well_formed(case) or _stateful(case):
        return
    code = MOCK_CODES.get(_bucket(case, 8))
    if code is not None and code in (case.operation.definition.raw.get("responses") or {}):
        case.headers = {**(case.headers or {}), "Prefer": f"code={code}"}
