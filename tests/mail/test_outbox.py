"""enqueue: one PENDING row in the caller's transaction, with a stable, unique Message-ID, its
token sealed; render_queued: the mail, rendered at delivery with the token opened."""

from __future__ import annotations

import dataclasses
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from sqlalchemy import Connection, Engine

from authsvc.db.engine import write_engine
from authsvc.db.models import OutboxStatus
from authsvc.mail.compose import INVITE, invite_params
from authsvc.mail.outbox import (
    NotDeliverable,
    QueuedMail,
    enqueue,
    message_id_domain,
    new_message_id,
    render_queued,
)
from authsvc.mail.sealing import OutboxSealer
from tests.support.mail import make_settings, outbox_rows

TOKEN = "tok-" + "S" * 39
PARAMS = invite_params(
    first_name="Ada", customer_name="Acme", expires_at=datetime(2030, 1, 8, tzinfo=UTC)
)
SEALER = OutboxSealer.from_keys([Fernet.generate_key().decode()])


def _enqueue(connection: Connection, tmp_path: Path, recipient: str = "ada@example.test") -> str:
    return enqueue(
        connection,
        template=INVITE,
        params=PARAMS,
        token=TOKEN,
        recipient=recipient,
        settings=make_settings(tmp_path),
        sealer=SEALER,
    )


def test_enqueue__committed_with_the_callers_transaction_token_sealed(
    engine: Engine, tmp_path: Path
) -> None:
    with write_engine(engine).begin() as connection:
        message_id = _enqueue(connection, tmp_path)

    [stored] = outbox_rows(engine)
    assert (stored.message_id, stored.kind, stored.recipient, stored.subject) == (
        message_id,
        "invite",
        "ada@example.test",
        "You're invited to join Acme",
    )
    assert stored.template_params == PARAMS
    assert stored.sealed_token is not None
    assert TOKEN not in stored.sealed_token
    assert SEALER.open(stored.sealed_token) == TOKEN
    assert not any(TOKEN in str(value) for value in vars(stored).values())
    assert (stored.status, stored.attempts, stored.last_error) == (OutboxStatus.PENDING, 0, None)
    assert stored.leased_until is None
    assert stored.next_attempt_at == stored.created_at  # due at once


def test_enqueue__rolled_back_with_the_callers_transaction(engine: Engine, tmp_path: Path) -> None:
    with write_engine(engine).begin() as connection:
        _enqueue(connection, tmp_path)
        connection.get_transaction().rollback()  # type: ignore[union-attr]

    assert outbox_rows(engine) == []


def test_enqueue__never_commits_itself(engine: Engine, tmp_path: Path) -> None:
    with write_engine(engine).connect() as connection:
        _enqueue(connection, tmp_path)
        assert connection.in_transaction()  # written in the caller's transaction, nothing more
        # the caller walks away without committing

    assert outbox_rows(engine) == []


def test_enqueue__unknown_template__refused(engine: Engine, tmp_path: Path) -> None:
    with (
        write_engine(engine).begin() as connection,
        pytest.raises(ValueError, match="no mail template 'newsletter'"),
    ):
        enqueue(
            connection,
            template="newsletter",
            params={},
            token=TOKEN,
            recipient="ada@example.test",
            settings=make_settings(tmp_path),
            sealer=SEALER,
        )


QUEUED = QueuedMail(
    message_id="<m1@mail.example.test>",
    template=INVITE,
    recipient="ada@example.test",
    subject="You're invited to join Acme",
    params=PARAMS,
    sealed_token=SEALER.seal(TOKEN),
    created_at=datetime(2030, 1, 1, tzinfo=UTC),
)


def test_render_queued__the_invite_with_its_link(tmp_path: Path) -> None:
    mail = render_queued(QUEUED, settings=make_settings(tmp_path), sealer=SEALER)

    link = f"https://auth.example.test/invite/{TOKEN}"
    assert link in mail.text
    assert f'href="{link}"' in mail.html
    assert "Hello Ada," in mail.text
    assert (mail.message_id, mail.recipient, mail.subject) == (
        QUEUED.message_id,
        QUEUED.recipient,
        QUEUED.subject,
    )


@pytest.mark.parametrize(
    ("change", "give_up", "reason"),
    [
        ({"sealed_token": None}, True, "nothing left to send"),
        ({"params": None}, True, "nothing left to send"),
        ({"template": "retired"}, True, "nothing left to send"),
        ({"params": {"first_name": "Ada"}}, True, "cannot render: KeyError"),
        ({"sealed_token": "not-a-fernet-token"}, False, "AUTHSVC_OUTBOX_SEALING_KEYS"),
        (
            {"sealed_token": OutboxSealer.from_keys([Fernet.generate_key().decode()]).seal(TOKEN)},
            False,
            "opens with none of the keys in AUTHSVC_OUTBOX_SEALING_KEYS",
        ),
    ],
    ids=["scrubbed", "no-params", "unknown-template", "missing-param", "garbled", "other-key"],
)
def test_render_queued__not_deliverable(
    tmp_path: Path, change: dict[str, object], give_up: bool, reason: str
) -> None:
    queued = dataclasses.replace(QUEUED, **change)  # type: ignore[arg-type]

    with pytest.raises(NotDeliverable, match=reason) as caught:
        render_queued(queued, settings=make_settings(tmp_path), sealer=SEALER)

    assert caught.value.give_up is give_up  # a wrong key is retried: fixing the setting delivers
    assert TOKEN not in str(caught.value)


@pytest.mark.parametrize(
    ("mail_from", "domain"),
    [
        ("Auth Service <no-reply@authsvc.localhost>", "authsvc.localhost"),
        ("no-reply@Mail.Example.TEST", "mail.example.test"),
        ("Broken <no-reply>", "authsvc.localhost"),
        ("x@exa_mple.test", "authsvc.localhost"),
    ],
    ids=["display-name", "bare-address-lowercased", "no-domain-fallback", "odd-domain-fallback"],
)
def test_message_id_domain__from_mail_from(mail_from: str, domain: str) -> None:
    assert message_id_domain(mail_from) == domain


def test_new_message_id__shape_and_uniqueness() -> None:
    ids = {new_message_id("a@mail.example.test") for _ in range(1000)}
    assert len(ids) == 1000
    assert all(re.fullmatch(r"<[0-9a-f-]{36}@mail\.example\.test>", i) for i in ids)


@pytest.mark.parametrize(
    "recipient",
    ["ada@example.test\r\nBcc: eve@example.test", "not-an-address", " ada@example.test"],
    ids=["header-injection", "no-at-sign", "padded"],
)
def test_enqueue__bad_recipient__refused(engine: Engine, recipient: str, tmp_path: Path) -> None:
    with (
        write_engine(engine).begin() as connection,
        pytest.raises(ValueError, match="single e-mail address"),
    ):
        _enqueue(connection, tmp_path, recipient)
    assert outbox_rows(engine) == []  # refused before anything was written
