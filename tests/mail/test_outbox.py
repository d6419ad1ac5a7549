"""enqueue: one PENDING row in the caller's transaction, with a stable, unique Message-ID."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import Engine

from authsvc.db.engine import write_engine
from authsvc.db.models import OutboxStatus
from authsvc.mail.compose import ComposedMail
from authsvc.mail.outbox import enqueue, message_id_domain, new_message_id
from tests.support.mail import make_settings, outbox_rows

MAIL = ComposedMail(subject="Hello", text="text body", html="<p>html body</p>")


def test_enqueue__committed_with_the_callers_transaction(engine: Engine, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with write_engine(engine).begin() as connection:
        message_id = enqueue(
            connection, kind="invite", recipient="ada@example.test", mail=MAIL, settings=settings
        )

    [stored] = outbox_rows(engine)
    assert (stored.message_id, stored.kind, stored.recipient) == (
        message_id,
        "invite",
        "ada@example.test",
    )
    assert (stored.subject, stored.body_text, stored.body_html) == ("Hello", "text body", MAIL.html)
    assert (stored.status, stored.attempts, stored.last_error) == (OutboxStatus.PENDING, 0, None)
    assert stored.leased_until is None
    assert stored.next_attempt_at == stored.created_at  # due at once


def test_enqueue__rolled_back_with_the_callers_transaction(engine: Engine, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with write_engine(engine).begin() as connection:
        enqueue(
            connection, kind="invite", recipient="ada@example.test", mail=MAIL, settings=settings
        )
        connection.get_transaction().rollback()  # type: ignore[union-attr]

    assert outbox_rows(engine) == []


def test_enqueue__never_commits_itself(engine: Engine, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with write_engine(engine).connect() as connection:
        enqueue(
            connection, kind="invite", recipient="ada@example.test", mail=MAIL, settings=settings
        )
        assert connection.in_transaction()  # written in the caller's transaction, nothing more
        # the caller walks away without committing

    assert outbox_rows(engine) == []


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
    settings = make_settings(tmp_path)
    with (
        write_engine(engine).begin() as connection,
        pytest.raises(ValueError, match="single e-mail address"),
    ):
        enqueue(connection, kind="invite", recipient=recipient, mail=MAIL, settings=settings)
    assert outbox_rows(engine) == []  # refused before anything was written
