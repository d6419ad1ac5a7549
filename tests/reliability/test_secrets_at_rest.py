"""No usable credential in a copy of the database, pending or sent (issue 18, item 2).

The sessions leg goes on from there: sign-in, refresh, forgot password (the reset mail delivered),
reset with a new password, sign-in with it; the reset token, both passwords and every token
issued must be absent from the copies too.

The whole invitation lifecycle through the app (create a user, resend the invite, deliver both
mails with the real worker, accept the second), on SQLite and PostgreSQL. The database is copied
while both mails are pending and again at the end: the SQLite file and its WAL, or a `pg_dump`.
Neither copy may hold an invite link, nor any token taken from the delivered mail, nor the
password, nor the tokens accept returned. The scanner finds those same tokens in the mail folder,
the delivery target they belong in, so an empty result means something.
"""

from __future__ import annotations

import email
import email.policy
import re
from typing import Any

from starlette.testclient import TestClient

from authsvc.config import Settings
from authsvc.mail.transport import build_transport
from authsvc.mail.worker import OutboxWorker
from authsvc.services.container import Services
from authsvc.services.invitations import hash_invite_token
from tests.support.lifecycle import (
    BASE,
    GOOD_PASSWORD,
    accept_url,
    bearer,
    invitations_of,
    new_user_body,
    users_url,
)
from tests.support.secrets_scan import INVITE_LINK, database_copies, find_secrets

TOKEN_IN_LINK = re.compile(rb"/invite/([A-Za-z0-9_-]{43})")
RESET_TOKEN_IN_LINK = re.compile(rb"/reset-password\?token=([A-Za-z0-9_-]{43})")
NEW_PASSWORD = "Brand-New-Horse-9"


def test_invitation_lifecycle__no_credential_in_a_copy_of_the_database(
    client: TestClient, demo: dict[str, Any], services: Services, settings: Settings
) -> None:
    admin = bearer(demo["admin_token"])
    created = client.post(
        users_url(demo["customer_id"]),
        json=new_user_body(services, demo["customer_id"], email="nia@example.com"),
        headers=admin,
    )
    assert created.status_code == 200, created.text
    user_id = created.json()["data"]["user_id"]
    resent = client.post(f"{users_url(demo['customer_id'], user_id)}/resend-invite", headers=admin)
    assert resent.status_code == 200, resent.text
    while_pending = database_copies(settings.database_url or settings.resolved_database_url)

    worker = OutboxWorker(
        services.engine,
        build_transport(settings),
        settings,
        sealer=services.sealer,
    )
    assert worker.deliver_due().sent == 2
    delivered = b"".join(p.read_bytes() for p in sorted(settings.resolved_mail_dir.glob("*.eml")))
    tokens = sorted({t.decode() for t in TOKEN_IN_LINK.findall(delivered)})
    assert len(tokens) == 2  # the first invite (revoked by the resend) and the second
    [live] = [t for t in tokens if hash_invite_token(t) == _pending_hash(services, user_id)]
    accepted = client.post(accept_url(live), json={"password": GOOD_PASSWORD})
    assert accepted.status_code == 200, accepted.text
    issued = accepted.json()["data"]
    after_accept = database_copies(settings.database_url or settings.resolved_database_url)

    sessions = _sessions_leg(client, worker, settings)
    after = database_copies(settings.database_url or settings.resolved_database_url)

    secrets = {f"invite token {n}": token for n, token in enumerate(tokens, 1)}
    secrets |= {
        "password": GOOD_PASSWORD,
        "refresh token": issued["refresh_token"],
        "id token": issued["id_token"],
    }
    secrets |= sessions
    copies = {f"{name} (pending)": data for name, data in while_pending.items()}
    copies |= {f"{name} (after accept)": data for name, data in after_accept.items()}
    copies |= {f"{name} (after reset)": data for name, data in after.items()}
    assert copies  # something was copied: the main file, the WAL, or the dump
    assert find_secrets(copies, secrets=secrets) == []
    # The control: the same scan finds every token where it belongs, in the delivered mail.
    found = find_secrets({"mail folder": delivered}, secrets=secrets)
    assert {f.what for f in found} >= {"invite link", "invite token 1", "invite token 2"}
    assert INVITE_LINK.search(delivered)
    everything = b"".join(
        _text_of(p.read_bytes()) for p in settings.resolved_mail_dir.glob("*.eml")
    )
    assert "reset token" in {f.what for f in find_secrets({"mail": everything}, secrets=secrets)}


def _sessions_leg(client: TestClient, worker: OutboxWorker, settings: Settings) -> dict[str, str]:
    """Sign in, refresh, forget, reset, sign in again: every secret that went by, by name."""
    signed_in = client.post(
        f"{BASE}/customer/sign-in", json={"email": "nia@example.com", "password": GOOD_PASSWORD}
    )
    assert signed_in.status_code == 200, signed_in.text
    first = signed_in.json()["data"]
    refreshed = client.post(
        f"{BASE}/refresh-token/customer", json={"refresh_token": first["refresh_token"]}
    )
    assert refreshed.status_code == 200, refreshed.text
    forgot = client.post(f"{BASE}/forgot-password", json={"email": "nia@example.com"})
    assert forgot.status_code == 200, forgot.text
    assert worker.deliver_due().sent == 1
    texts = b"".join(_text_of(p.read_bytes()) for p in settings.resolved_mail_dir.glob("*.eml"))
    [reset_token] = {t.decode() for t in RESET_TOKEN_IN_LINK.findall(texts)}
    reset = client.post(
        f"{BASE}/reset-password", json={"reset_token": reset_token, "password": NEW_PASSWORD}
    )
    assert reset.status_code == 200, reset.text
    again = client.post(
        f"{BASE}/customer/sign-in", json={"email": "nia@example.com", "password": NEW_PASSWORD}
    )
    assert again.status_code == 200, again.text
    return {
        "reset token": reset_token,
        "new password": NEW_PASSWORD,
        "sign-in refresh token": first["refresh_token"],
        "sign-in id token": first["id_token"],
        "rotated refresh token": refreshed.json()["data"]["refresh_token"],
        "second sign-in refresh token": again.json()["data"]["refresh_token"],
    }


def _text_of(raw: bytes) -> bytes:
    """A delivered mail's text part, decoded (its transfer encoding may split or escape a link)."""
    message = email.message_from_bytes(raw, policy=email.policy.default)
    body = message.get_body(preferencelist=("plain",))
    assert body is not None
    return str(body.get_content()).encode()


def _pending_hash(services: Services, user_id: str) -> str:
    """The token hash of the user's invitation still pending (the resend revoked the first)."""
    [pending] = [i for i in invitations_of(services, user_id) if i.revoked_at is None]
    return pending.token_hash
