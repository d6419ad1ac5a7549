"""compose_invite: the invite names the user and customer, carries the link and the expiry."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from authsvc.mail.compose import ComposedMail, accept_url, compose_invite, one_line
from tests.support.mail import make_settings

EXPIRES = datetime(2030, 1, 7, 12, 30, tzinfo=UTC)


def _compose(
    tmp_path: Path, *, first: str = "Ada", customer: str = "Acme", token: str = "t0k"
) -> ComposedMail:
    return compose_invite(
        settings=make_settings(tmp_path),
        first_name=first,
        customer_name=customer,
        token=token,
        expires_at=EXPIRES,
    )


def test_compose_invite__both_parts_carry_name_customer_link_and_expiry(tmp_path: Path) -> None:
    mail = _compose(tmp_path, token="abc_DEF-123")

    link = "https://auth.example.test/invite/abc_DEF-123"
    assert mail.subject == "You're invited to join Acme"
    for part in (mail.text, mail.html):
        assert "Hello Ada," in part
        assert "Acme" in part
        assert link in part
        assert "07 January 2030 at 12:30 UTC" in part
    assert f'href="{link}"' in mail.html


@pytest.mark.parametrize(
    ("first", "customer", "in_text", "in_html", "not_in_html"),
    [
        ("", "Acme", "Hello there,", "Hello there,", "Hello ,"),
        (
            "<b>Eve</b>",
            "Tom & Jerry <Ltd>",
            "Hello <b>Eve</b>,",
            "Hello &lt;b&gt;Eve&lt;/b&gt;,",
            "<b>Eve</b>",
        ),
        ("Zoë", 'Café "Crème"', 'join Café "Crème".', "Café &#34;Crème&#34;", '"Crème"'),
    ],
    ids=["no-first-name", "markup-is-escaped-in-html-only", "unicode-and-quotes"],
)
def test_compose_invite__names(
    tmp_path: Path, first: str, customer: str, in_text: str, in_html: str, not_in_html: str
) -> None:
    mail = _compose(tmp_path, first=first, customer=customer)

    assert in_text in mail.text
    assert in_html in mail.html
    assert not_in_html not in mail.html


@pytest.mark.parametrize(
    ("customer", "subject"),
    [
        ("Acme\r\nBcc: eve@example.test", "You're invited to join Acme Bcc: eve@example.test"),
        ("  Acme \t Corp  ", "You're invited to join Acme Corp"),
        ("Acme\u2028Corp", "You're invited to join Acme Corp"),
    ],
    ids=["crlf-injection", "whitespace", "unicode-line-separator"],
)
def test_compose_invite__subject_is_one_header_line(
    tmp_path: Path, customer: str, subject: str
) -> None:
    assert _compose(tmp_path, customer=customer).subject == subject


@pytest.mark.parametrize(
    ("token", "link"),
    [
        ("plain", "https://auth.example.test/invite/plain"),
        ("a/b?c#d", "https://auth.example.test/invite/a%2Fb%3Fc%23d"),
    ],
    ids=["urlsafe-token", "reserved-characters-quoted"],
)
def test_accept_url__one_path_segment(tmp_path: Path, token: str, link: str) -> None:
    assert accept_url(make_settings(tmp_path), token) == link


def test_compose_invite__expiry_shown_in_utc(tmp_path: Path) -> None:
    paris = timezone(timedelta(hours=1))
    mail = compose_invite(
        settings=make_settings(tmp_path),
        first_name="Ada",
        customer_name="Acme",
        token="t",
        expires_at=datetime(2030, 1, 7, 13, 30, tzinfo=paris),
    )
    assert "07 January 2030 at 12:30 UTC" in mail.text


def test_compose_invite__naive_expiry__refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        compose_invite(
            settings=make_settings(tmp_path),
            first_name="Ada",
            customer_name="Acme",
            token="t",
            expires_at=datetime(2030, 1, 7),  # naive: the point of the test
        )


def test_one_line__idempotent() -> None:
    assert one_line(one_line(" a \n b ")) == one_line(" a \n b ") == "a b"
