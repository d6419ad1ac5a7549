"""Nothing sensitive in the logs of a real `authsvc serve` run, including its failures.

The run sends successes (mail is written by the in-process worker), every kind of refusal, forged
and malformed tokens, and a database-free 404/405; then its whole output is searched for the bearer
tokens it was sent, the invite tokens it mailed and the full e-mail addresses of its users.
The development banner, which prints a demo token on purpose, is the one documented exception.
"""

from __future__ import annotations

import json
import re
import uuid
from email import message_from_bytes, policy
from pathlib import Path

import httpx
import pytest

from tests.reliability.support import API, bearer, resend_path, wait_until
from tests.support.processes import free_port, run_demo, running

BANNER = re.compile(r"Auth Service \(development\).*?More tokens and IDs:[^\n]*\n", re.DOTALL)
INVITE_LINK = re.compile(r"/invite/([A-Za-z0-9_%-]{20,})")
EMAILS = [
    "ada.admin@example.com",
    "max.member@example.com",
    "ivy.invited@example.com",
    "abe.active@example.com",
    "gus.admin@example.com",
    "gia.invited@example.com",
    "pat.platform@example.com",
]


@pytest.mark.parametrize("level", ["INFO", "DEBUG"], ids=["info", "debug"])
def test_logs__no_token_or_address_in_a_live_run_with_failures(tmp_path: Path, level: str) -> None:
    port = free_port()
    data_dir = tmp_path / "data"
    settings = {
        "AUTHSVC_LOG_LEVEL": level,
        "AUTHSVC_RESEND_LIMIT": "2",
        "AUTHSVC_OUTBOX_POLL_SECONDS": "0.1",
    }
    args = ["serve", "--data-dir", str(data_dir), "--port", str(port)]
    log_path = tmp_path / "serve.log"
    with running(
        args, log_path=log_path, settings=settings, port=port, ready_path="/healthz"
    ) as service:
        demo = json.loads(run_demo(data_dir, service.base_url, settings))
        forged = demo["admin_token"].rsplit(".", 1)[0] + ".c2lnbmF0dXJlLW9mLWFub3RoZXIta2V5"
        tokens = [demo[k] for k in demo if k.endswith("_token")] + [forged]
        base = service.base_url
        ok = resend_path(demo["customer_id"], demo["invited_user_id"])
        calls = [
            (ok, demo["admin_token"]),  # 200
            (ok, demo["admin_token"]),  # 200
            (ok, demo["admin_token"]),  # 429
            (ok, demo["member_token"]),  # 403
            (ok, forged),  # 401
            (ok, "not-a-jwt"),  # 401
            (resend_path(demo["customer_id"], demo["active_user_id"]), demo["admin_token"]),
            (resend_path(demo["customer_id"], uuid.uuid4()), demo["admin_token"]),  # 404
            (resend_path("not-a-uuid", uuid.uuid4()), demo["admin_token"]),  # 400
            (f"{API}/nowhere", demo["admin_token"]),  # 404
        ]
        statuses = [httpx.post(base + path, headers=bearer(t)).status_code for path, t in calls]
        statuses.append(httpx.get(base + ok, headers=bearer(demo["admin_token"])).status_code)
        assert statuses == [200, 200, 429, 403, 401, 401, 400, 404, 400, 404, 405]
        mail_dir = data_dir / "mail"
        wait_until(lambda: len(list(mail_dir.glob("*.eml"))) == 2, timeout=15)
    invite_tokens = []
    for eml in mail_dir.glob("*.eml"):
        message = message_from_bytes(eml.read_bytes(), policy=policy.default)
        text = message.get_body(("plain",))
        assert text is not None
        invite_tokens += INVITE_LINK.findall(text.get_content())
    assert len(invite_tokens) == 2

    output = service.output()
    [banner] = BANNER.findall(output)
    # Positive control: the search below does find a token where one is printed on purpose.
    [banner_token] = re.findall(r"Bearer ([A-Za-z0-9_.-]+)", banner)
    tokens.append(banner_token)
    logs = output.replace(banner, "")
    assert banner_token in output
    assert "resend-invite" in logs, "the access log is not in the captured output"
    leaks = [
        name
        for name, secrets in (("bearer token", tokens), ("invite token", invite_tokens))
        for secret in secrets
        if secret in logs or secret.split(".")[-1] in logs
    ]
    leaks += [f"address {a}" for a in EMAILS if a in logs]
    assert not leaks, f"found in the {level} log: {leaks}"
