"""`AUTHSVC_SMTP_URL`: its schemes and its parser, shared by the settings and the SMTP transport.

Apart from both, so that validating the settings never imports the mail package.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs, unquote, urlsplit

from authsvc.errors import ConfigError

SmtpMode = Literal["plain", "starttls", "tls"]
_SCHEMES: dict[str, tuple[SmtpMode, int]] = {
    "smtp": ("plain", 25),
    "smtp+starttls": ("starttls", 587),
    "smtps": ("tls", 465),
}


@dataclass(frozen=True, slots=True)
class SmtpEndpoint:
    mode: SmtpMode
    host: str
    port: int
    username: str | None
    password: str | None
    verify: bool
    helo: str | None

    def describe(self) -> str:
        scheme = next(s for s, (mode, _) in _SCHEMES.items() if mode == self.mode)
        return f"{scheme}://{self.host}:{self.port}"  # never the credentials


def parse_smtp_url(url: str) -> SmtpEndpoint:
    """`smtp://`, `smtp+starttls://` or `smtps://[user:pass@]host[:port][?verify=false&helo=name]`."""
    # Errors name the variable but never echo the URL: it may hold a password.
    name = "AUTHSVC_SMTP_URL"
    parts = urlsplit(url)
    if parts.scheme not in _SCHEMES:
        raise ConfigError(f"{name}: scheme must be one of {', '.join(_SCHEMES)}")
    mode, default_port = _SCHEMES[parts.scheme]
    try:
        port = parts.port or default_port
    except ValueError:
        raise ConfigError(f"{name}: invalid port") from None
    if not parts.hostname:
        raise ConfigError(f"{name}: missing host")
    if parts.path not in ("", "/"):
        raise ConfigError(f"{name}: unexpected path")
    query = parse_qs(parts.query, keep_blank_values=True)
    unknown = sorted(set(query) - {"verify", "helo"})
    if unknown:
        raise ConfigError(f"{name}: unknown option {', '.join(unknown)} (known: verify, helo)")
    verify_text = query.get("verify", ["true"])[-1].lower()
    if verify_text not in ("true", "false", "1", "0"):
        raise ConfigError(f"{name}: verify must be true or false")
    username = unquote(parts.username) if parts.username else None
    if username and mode == "plain":
        raise ConfigError(f"{name}: credentials need smtp+starttls:// or smtps://")
    return SmtpEndpoint(
        mode=mode,
        host=parts.hostname,
        port=port,
        username=username,
        password=unquote(parts.password) if parts.password else None,
        verify=verify_text in ("true", "1"),
        helo=query.get("helo", [None])[-1] or None,
    )
