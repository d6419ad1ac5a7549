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


def _link_mail(
    compose: Callable[..., ComposedMail],
) -> Callable[[Settings, Mapping[str, str], str], ComposedMail]:
    """The renderer of a mail with a link (invite, reset) from its stored parameters."""

    def render(settings: Settings, params: Mapping[str, str], token: str) -> ComposedMail:
        return compose(
            settings=settings,
            first_name=params["first_name"],
            customer_name=params["customer_name"],
            token=token,
            expires_at=datetime.fromisoformat(params["expires_at"]),
        )

    return render


def compose_invite(
    *,
    settings: Settings,
    first_name: str,
    customer_name: str,
    token: str,
    expires_at: datetime,
) -> ComposedMail:
    """The invite for a user (`first_name`) to join `customer_name`, with the link for `token`."""
    return _compose(
        "invite",
        _invite_subject({"customer_name": customer_name}),
        first_name=first_name,
        customer_name=customer_name,
        accept_url=accept_url(settings, token),
        expires_at=_when(expires_at),
    )


def _when(moment: datetime) -> str:
    if moment.tzinfo is None:
        raise ValueError("a mail's date must be timezone-aware")
    return moment.astimezone(UTC).strftime("%d %B %Y at %H:%M UTC")


def _compose(stem: str, subject: str, **values: str) -> ComposedMail:
    """`{stem}.txt.j2` and `{stem}.html.j2` with `values`; names pass through `one_line`."""
    context = {"subject": subject, **values}
    for name in ("first_name", "customer_name"):
        context[name] = one_line(context[name])
    env = _environment()
    return ComposedMail(
        subject=subject,
        text=env.get_template(f"{stem}.txt.j2").render(context),
        html=env.get_template(f"{stem}.html.j2").render(context),
    )


def reset_url(settings: Settings, token: str) -> str:
    """The reset link `{APP_URL}/reset-password?token={token}`."""
    return f"{settings.app_url}/reset-password?token={quote(token, safe='')}"


def compose_reset(
    *,
    settings: Settings,
    first_name: str,
    customer_name: str,
    token: str,
    expires_at: datetime,
) -> ComposedMail:
    """The reset-password mail for a user (`first_name`) of `customer_name`, linking `token`."""
    return _compose(
        "reset",
        "Reset your password",
        first_name=first_name,
        customer_name=customer_name,
        reset_url=reset_url(settings, token),
        expires_at=_when(expires_at),
    )


def compose_password_changed(
    *, first_name: str, customer_name: str, changed_at: datetime
) -> ComposedMail:
    """The notice that a user's password was changed (by a reset): no link, no secret."""
    return _compose(
        "password_changed",
        "Your password was changed",
        first_name=first_name,
        customer_name=customer_name,
        changed_at=_when(changed_at),
    )


RESET = "reset"
PASSWORD_CHANGED = "password_changed"  # noqa: S105 - a template name, not a secret


def reset_params(*, first_name: str, customer_name: str, expires_at: datetime) -> dict[str, str]:
    """The reset mail's parameters as the outbox stores them, everything but its token."""
    return invite_params(first_name=first_name, customer_name=customer_name, expires_at=expires_at)


def password_changed_params(
    *, first_name: str, customer_name: str, changed_at: datetime
) -> dict[str, str]:
    """The password-changed notice's parameters; it has no secret (its sealed token is empty)."""
    if changed_at.tzinfo is None:
        raise ValueError("changed_at must be timezone-aware")
    return {
        "first_name": first_name,
        "customer_name": customer_name,
        "changed_at": changed_at.isoformat(),
    }


def _render_password_changed(
    settings: Settings, params: Mapping[str, str], token: str
) -> ComposedMail:
    del settings, token  # no link, no secret
    return compose_password_changed(
        first_name=params["first_name"],
        customer_name=params["customer_name"],
        changed_at=datetime.fromisoformat(params["changed_at"]),
    )


# Every mail the outbox can render at delivery, by the name a queued row stores.
TEMPLATES: Mapping[str, MailTemplate] = {
    INVITE: MailTemplate(subject=_invite_subject, render=_link_mail(compose_invite)),
    RESET: MailTemplate(
        subject=lambda _params: "Reset your password", render=_link_mail(compose_reset)
    ),
    PASSWORD_CHANGED: MailTemplate(
        subject=lambda _params: "Your password was changed", render=_render_password_changed
    ),
}
