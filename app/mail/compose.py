"""The mails the outbox renders: subject, text and HTML, from the Jinja2 templates in `templates/`.

A queued mail stores its template's name, its parameters and its secret token (sealed, see
authsvc.mail.sealing), never the rendered text: `TEMPLATES` renders it at delivery. A new kind of
mail (a password reset) is one more entry there, with its own templates.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from authsvc.config import Settings

_LINE_BREAKS = re.compile(r"[\r\n\t\v\f\x85\u2028\u2029]+")


@dataclass(frozen=True, slots=True)
class ComposedMail:
    """What a message says; who receives it and when is the outbox's business."""

    subject: str
    text: str
    html: str


@lru_cache(maxsize=1)
def _environment() -> Environment:
    # Built on first use, not at import: no import-time side effects.
    return Environment(
        loader=PackageLoader("authsvc.mail", "templates"),
        # Escape only the HTML part: the text part must show names exactly as typed.
        autoescape=select_autoescape(enabled_extensions=("html.j2",), default=False),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        # Package templates never change while running: skip the per-render stat of each file.
        auto_reload=False,
    )


def accept_url(settings: Settings, token: str) -> str:
    """The accept link `{APP_URL}/invite/{token}`, the token quoted to stay one path segment."""
    return f"{settings.app_url}/invite/{quote(token, safe='')}"


def one_line(value: str) -> str:
    """A header-safe string: line breaks in user-supplied names must never reach a header."""
    return " ".join(_LINE_BREAKS.sub(" ", value).split())


@dataclass(frozen=True, slots=True)
class MailTemplate:
    """How to render one kind of mail from its stored parameters and its secret token."""

    subject: Callable[[Mapping[str, str]], str]  # no secret in it: stored in the outbox row
    render: Callable[[Settings, Mapping[str, str], str], ComposedMail]


INVITE = "invite"


def invite_params(*, first_name: str, customer_name: str, expires_at: datetime) -> dict[str, str]:
    """The invite's parameters as the outbox stores them (JSON), everything but its token."""
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    return {
        "first_name": first_name,
        "customer_name": customer_name,
        "expires_at": expires_at.isoformat(),
    }


def _invite_subject(params: Mapping[str, str]) -> str:
    return f"You're invited to join {one_line(params['customer_name'])}"


def _render_invite(settings: Settings, params: Mapping[str, str], token: str) -> ComposedMail:
    return compose_invite(
        settings=settings,
        first_name=params["first_name"],
        customer_name=params["customer_name"],
        token=token,
        expires_at=datetime.fromisoformat(params["expires_at"]),
    )


TEMPLATES: Mapping[str, MailTemplate] = {
    INVITE: MailTemplate(subject=_invite_subject, render=_render_invite),
}


def compose_invite(
    *,
    settings: Settings,
    first_name: str,
    customer_name: str,
    token: str,
    expires_at: datetime,
) -> ComposedMail:
    """The invite for a user (`first_name`) to join `customer_name`, with the link for `token`."""
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    customer_name = one_line(customer_name)
    subject = _invite_subject({"customer_name": customer_name})
    context = {
        "subject": subject,
        "first_name": one_line(first_name),
        "customer_name": customer_name,
        "accept_url": accept_url(settings, token),
        "expires_at": expires_at.astimezone(UTC).strftime("%d %B %Y at %H:%M UTC"),
    }
    env = _environment()
    return ComposedMail(
        subject=subject,
        text=env.get_template("invite.txt.j2").render(context),
        html=env.get_template("invite.html.j2").render(context),
    )
