"""enqueue: one PENDING row in the caller's transaction, with a stable, unique Message-ID."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.db.engine import make_session_factory
from app.db.models import OutboxStatus
from app.mail.compose import ComposedMail
from app.mail.outbox import enqueue, message_id_domain, new_message_id
from tests.mail.support import make_settings, outbox_rows

MAIL = ComposedMail(subject="Hello", text="text body", html="<p>html body</p>")


def test_enqueue__committed_with_the_callers_transaction(engine: Engine, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with make_session_factory(engine, write=True).begin() as session:
        row = enqueue(
            session, kind="invite", recipient="ada@example.test", mail=MAIL, settings=settings
        )
        message_id = row.message_id

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
    with make_session_factory(engine, write=True)() as session:
        enqueue(session, kind="invite", recipient="ada@example.test", mail=MAIL, settings=settings)
        session.flush()
        session.rollback()

    assert outbox_rows(engine) == []


def test_enqueue__never_commits_itself(engine: Engine, tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    with make_session_factory(engine, write=True)() as session:
        enqueue(session, kind="invite", recipient="ada@example.test", mail=MAIL, settings=settings)
        assert session.new  # added to the session, nothing more
        session.close()  # the caller walks away without committing

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
def test_enqueue__bad_recipient__refused(recipient: str, tmp_path: Path) -> None:
    session = Session()  # never touched: the address is refused before anything is added
    with pytest.raises(ValueError, match="single e-mail address"):
        enqueue(
            session, kind="invite", recipient=recipient, mail=MAIL, settings=make_settings(tmp_path)
        )
    assert not session.new
