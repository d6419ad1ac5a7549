"""Settings read from `AUTHSVC_*` environment variables, validated once at startup.

Every field has an embedded default that runs the service on one machine (SQLite, a mail folder,
a generated dev key). Outside `development`, the defaults that are only safe on a laptop are refused,
and every error names the variable to fix.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import re
from email.utils import parseaddr
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from authsvc.errors import ConfigError
from authsvc.smtp_url import parse_smtp_url
from authsvc.web.cors import normalise_origin

if TYPE_CHECKING:  # the server stack is imported only by the commands that serve
    from authsvc.web.http_server import HttpLimits

ENV_PREFIX = "AUTHSVC_"
# Reserved for the test suite and CI (database URL, Prism, Chromium); never read by the service.
TEST_ENV_PREFIX = "AUTHSVC_TEST_"
ASYMMETRIC_ALGORITHMS = ("RS256", "ES256")
PLACEHOLDER_SECRETS = {"", "changeme", "change-me", "secret", "dev", "test"}


class Settings(BaseSettings):
    """The whole configuration of one service process."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    environment: Literal["development", "test", "production"] = "development"
    data_dir: Path = Path(".authsvc")
    database_url: str | None = None
    db_timeout_seconds: float = Field(default=5.0, gt=0, le=120)
    # The longest a client waits for an answer that needs the database (default: 2 x the DB
    # timeout, room for one retry of a lost race).
    request_timeout_seconds: float | None = Field(default=None, gt=0, le=300)
    # A database thread with nothing to do for this long ends; the next job starts one again.
    db_thread_idle_seconds: float = Field(default=10.0, gt=0, le=3600)

    app_url: str = "http://127.0.0.1:8080"
    jwt_issuer: str = "authsvc-dev"
    jwt_audience: str = "authsvc"
    jwt_algorithms: Annotated[tuple[str, ...], NoDecode] = ASYMMETRIC_ALGORITHMS
    jwt_leeway_seconds: int = Field(default=30, ge=0, le=300)
    jwt_public_key_file: Path | None = None
    jwks_url: str | None = None
    jwks_cache_seconds: int = Field(default=300, ge=1)
    jwks_refresh_cooldown_seconds: int = Field(default=30, ge=1)
    jwt_hs256_secret: SecretStr | None = None
    jwt_max_token_bytes: int = Field(default=8192, ge=256)
    # How long a verified token is trusted without checking its signature again (0: never).
    jwt_verified_cache_seconds: int = Field(default=60, ge=0, le=3600)
    # The key that signs the tokens the service issues (accept); the dev key when unset.
    jwt_private_key_file: Path | None = None
    # Several keys (rotation), comma-separated: the first signs, all are published and verify.
    jwt_private_key_files: Annotated[tuple[Path, ...], NoDecode] = ()
    id_token_ttl_seconds: int = Field(default=15 * 60, ge=60, le=24 * 3600)
    # Sessions (authsvc.services.sessions). They replace AUTHSVC_REFRESH_TOKEN_TTL_SECONDS: a
    # refresh token now lives as long as its session, which ends after this long without a
    # refresh (idle) or this long after sign-in (absolute), whichever comes first.
    session_idle_seconds: int = Field(default=7 * 24 * 3600, ge=300)
    session_absolute_seconds: int = Field(default=30 * 24 * 3600, ge=300)
    # A refresh of the immediate parent within this many seconds of its rotation returns the same
    # successor (two tabs racing); 0 turns the grace off, so any second use is reuse.
    refresh_grace_seconds: int = Field(default=10, ge=0, le=300)
    reset_token_ttl_seconds: int = Field(default=3600, ge=60, le=24 * 3600)

    invite_ttl_seconds: int = Field(default=7 * 24 * 3600, ge=60)
    # Invitation mails (create and resend) per user, and per customer, in a sliding window.
    resend_limit: int = Field(default=5, ge=1)
    resend_window_seconds: int = Field(default=3600, ge=1)
    invite_mail_limit: int = Field(default=100, ge=1)
    invite_mail_window_seconds: int = Field(default=3600, ge=1)
    # Unauthenticated password work (accept) per client address, in a sliding window.
    accept_limit: int = Field(default=10, ge=1)
    accept_window_seconds: int = Field(default=60, ge=1)
    # Sign-in (Cognito's shape): per submitted e-mail, whether or not it exists, this many
    # failures cost nothing, then each waits a delay from the base doubling to the cap; a quiet
    # period after the delay ran out forgets them. Per client address, a ceiling on failures.
    sign_in_free_failures: int = Field(default=5, ge=1)
    sign_in_backoff_base_seconds: int = Field(default=1, ge=1)
    sign_in_backoff_cap_seconds: int = Field(default=900, ge=1)
    sign_in_quiet_seconds: int = Field(default=900, ge=1)
    sign_in_address_limit: int = Field(default=100, ge=1)
    sign_in_address_window_seconds: int = Field(default=900, ge=1)
    # Forgot password: reset mails per submitted e-mail and requests per client address, in a
    # sliding window; past either the answer is the same 200 and no mail goes.
    forgot_limit: int = Field(default=3, ge=1)
    forgot_window_seconds: int = Field(default=3600, ge=1)
    forgot_address_limit: int = Field(default=30, ge=1)
    forgot_address_window_seconds: int = Field(default=3600, ge=1)
    # Peers whose X-Forwarded-For names the client (IPs or CIDRs, comma-separated; none trusted).
    trusted_proxies: Annotated[tuple[str, ...], NoDecode] = ()

    smtp_url: SecretStr | None = None
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    mail_from: str = "Auth Service <no-reply@authsvc.localhost>"
    mail_dir: Path | None = None
    outbox_poll_seconds: float = Field(default=1.0, gt=0)
    outbox_batch_size: int = Field(default=100, ge=1)
    outbox_max_attempts: int = Field(default=12, ge=1)
    outbox_backoff_seconds: float = Field(default=2.0, gt=0)
    outbox_backoff_max_seconds: float = Field(default=900.0, gt=0)
    outbox_lease_seconds: float = Field(default=120.0, gt=0)
    # `serve` runs a delivery loop in each process unless false (`serve --no-mail-loop`): for
    # deployments that run `authsvc worker` apart.
    mail_loop: bool = True
    # Fernet keys (comma-separated) that seal each queued mail's secret token (an invite link's):
    # the first seals, every one opens, so a key stays listed until the mail it sealed is gone.
    # Unset: a key file generated in the data directory (authsvc.mail.sealing); not in production.
    outbox_sealing_keys: SecretStr | None = None

    # The HTTP server's own limits (authsvc.web.http_server), enforced before a request reaches the app;
    # nginx's defaults are the anchor (large_client_header_buffers 4 x 8k, client_header_timeout,
    # worker_connections 512).
    http_max_request_line_bytes: int = Field(default=8 * 1024, ge=1024, le=1024 * 1024)
    http_max_header_bytes: int = Field(default=8 * 1024, ge=1024, le=1024 * 1024)
    http_max_headers_bytes: int = Field(default=64 * 1024, ge=1024, le=16 * 1024 * 1024)
    http_header_timeout_seconds: float = Field(default=10.0, gt=0, le=300)
    http_keepalive_timeout_seconds: float = Field(default=5.0, gt=0, le=300)
    http_max_connections: int = Field(default=512, ge=1, le=1_000_000)
    # nginx's client_max_body_size is 1 MiB too; the contract's largest body is a few hundred bytes.
    http_max_body_bytes: int = Field(default=1024 * 1024, ge=1024, le=1024 * 1024 * 1024)

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"

    # Browser pages allowed to call the service: exact origins, comma-separated (authsvc.web.cors).
    cors_origins: Annotated[tuple[str, ...], NoDecode] = ()
    # Client addresses (IPs or networks) that GET /metrics answers; anyone else gets the 404.
    metrics_allow: Annotated[tuple[str, ...], NoDecode] = ("127.0.0.0/8", "::1/128")
    # SIGTERM: how long requests in flight may take to finish before they are cancelled.
    shutdown_timeout_seconds: float = Field(default=20.0, gt=0, le=600)

    @field_validator("jwt_algorithms", mode="before")
    @classmethod
    def _split_algorithms(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(a.strip() for a in value.split(",") if a.strip())
        return value

    @field_validator(
        "cors_origins", "metrics_allow", "jwt_private_key_files", "trusted_proxies", mode="before"
    )
    @classmethod
    def _split_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(v.strip() for v in value.split(",") if v.strip())
        return value

    @field_validator("cors_origins")
    @classmethod
    def _exact_origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(normalise_origin(origin) for origin in value))

    @field_validator("jwt_algorithms")
    @classmethod
    def _known_algorithms(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [a for a in value if a not in (*ASYMMETRIC_ALGORITHMS, "HS256")]
        if unknown or not value:
            raise ValueError(f"allowed: RS256, ES256, HS256; got {', '.join(value) or 'nothing'}")
        return value

    @field_validator("trusted_proxies", "metrics_allow")
    @classmethod
    def _networks(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            try:
                ipaddress.ip_network(entry, strict=False)
            except ValueError:
                raise ValueError(f"not an IP address or CIDR network: {entry!r}") from None
        return value

    @field_validator("app_url", "jwks_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("http", "https"):
            raise ValueError("must be an http(s) URL")
        return value.rstrip("/") if value else value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            backend = make_url(value).get_backend_name()
        except ArgumentError:
            # Never echo the URL: it may hold a password.
            raise ValueError(
                "not a database URL (sqlite:///path or postgresql+psycopg://...)"
            ) from None
        if backend not in ("sqlite", "postgresql"):
            raise ValueError(f"unsupported database {backend!r} (sqlite or postgresql)")
        return value

    @field_validator("smtp_url")
    @classmethod
    def _smtp_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            # The transport's own parser, so that what passes here is what delivery will use.
            try:
                parse_smtp_url(value.get_secret_value())
            except ConfigError as exc:
                raise ValueError(str(exc).removeprefix("AUTHSVC_SMTP_URL: ")) from None
        return value

    @field_validator("outbox_sealing_keys")
    @classmethod
    def _sealing_keys(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            keys = split_keys(value.get_secret_value())
            if not keys:
                raise ValueError("no key given (comma-separated Fernet keys)")
            for number, key in enumerate(keys, start=1):
                if not is_fernet_key(key):
                    # Never echo the value: it is (or is close to) a secret.
                    raise ValueError(
                        f"key {number} of {len(keys)} is not a Fernet key (32 random bytes in "
                        "URL-safe base64, 44 characters)"
                    )
        return value

    @model_validator(mode="after")
    def _coherent(self) -> Settings:
        problems = self._incoherences()
        if problems:
            # One ValueError for all of them: `load_settings` splits the lines again.
            raise ValueError("\n".join(problems))
        return self

    def _incoherences(self) -> list[str]:
        """Every rule that spans several settings and is broken, one line each."""
        problems = []
        if self.http_max_header_bytes > self.http_max_headers_bytes:
            problems.append(
                "AUTHSVC_HTTP_MAX_HEADER_BYTES must not exceed AUTHSVC_HTTP_MAX_HEADERS_BYTES"
            )
        secret = self.jwt_hs256_secret.get_secret_value() if self.jwt_hs256_secret else None
        if secret is not None:
            # A shared secret switches the service to HS256 alone: mixing HMAC with public-key
            # algorithms is what makes algorithm-confusion attacks possible.
            if self.jwt_algorithms not in (("HS256",), ASYMMETRIC_ALGORITHMS):
                problems.append("AUTHSVC_JWT_ALGORITHMS must be HS256 when a shared secret is set")
            else:
                object.__setattr__(self, "jwt_algorithms", ("HS256",))
            if len(secret) < 32 or secret.lower() in PLACEHOLDER_SECRETS:
                problems.append("AUTHSVC_JWT_HS256_SECRET must be at least 32 random characters")
        elif "HS256" in self.jwt_algorithms:
            problems.append(
                "AUTHSVC_JWT_ALGORITHMS has HS256 but AUTHSVC_JWT_HS256_SECRET is unset"
            )
        if self.jwks_url and self.jwt_public_key_file:
            problems.append("set AUTHSVC_JWKS_URL or AUTHSVC_JWT_PUBLIC_KEY_FILE, not both")
        if self.jwt_private_key_file is not None and self.jwt_private_key_files:
            problems.append(
                "set AUTHSVC_JWT_PRIVATE_KEY_FILE or AUTHSVC_JWT_PRIVATE_KEY_FILES, not both"
            )
        if self.environment == "production":
            if self.jwt_private_key_file is None and not self.jwt_private_key_files:
                problems.append(
                    "production needs AUTHSVC_JWT_PRIVATE_KEY_FILE (or _FILES): it signs the "
                    "tokens the service issues, and verifies them (AUTHSVC_JWKS_URL or "
                    "AUTHSVC_JWT_PUBLIC_KEY_FILE add another issuer's keys); the generated dev key "
                    "is for development only"
                )
            if self.database_url is None:
                problems.append("production needs AUTHSVC_DATABASE_URL")
            if self.smtp_url is None:
                problems.append("production needs AUTHSVC_SMTP_URL")
            if self.outbox_sealing_keys is None:
                problems.append(
                    "production needs AUTHSVC_OUTBOX_SEALING_KEYS: the same Fernet key(s) for "
                    "every instance and worker, kept outside the database; they seal the invite "
                    "links of queued mail"
                )
        return problems

    def warnings(self) -> list[str]:
        """What is allowed but probably a mistake, one line each (logged at startup)."""
        found = []
        if self.environment == "production":
            _name, address = parseaddr(self.mail_from)
            domain = address.rpartition("@")[2].strip().lower().rstrip(".")
            if domain in ("", "localhost") or domain.endswith(".localhost"):
                found.append(
                    f"AUTHSVC_MAIL_FROM: the sender's domain is {domain or 'missing'!r}; in "
                    "production, set an address of your own domain (receivers reject or junk mail "
                    "from a localhost sender)"
                )
        return found

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'authsvc.db').resolve()}"

    @property
    def resolved_request_timeout(self) -> float:
        return self.request_timeout_seconds or 2 * self.db_timeout_seconds

    @property
    def resolved_mail_dir(self) -> Path:
        return self.mail_dir or self.data_dir / "mail"

    @property
    def http_limits(self) -> HttpLimits:
        from authsvc.web.http_server import HttpLimits

        return HttpLimits(
            max_request_line_bytes=self.http_max_request_line_bytes,
            max_header_bytes=self.http_max_header_bytes,
            max_headers_bytes=self.http_max_headers_bytes,
            header_timeout_seconds=self.http_header_timeout_seconds,
            keepalive_timeout_seconds=self.http_keepalive_timeout_seconds,
            max_connections=self.http_max_connections,
            max_body_bytes=self.http_max_body_bytes,
        )

    @property
    def metrics_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        return tuple(ipaddress.ip_network(entry, strict=False) for entry in self.metrics_allow)

    @property
    def uses_dev_key(self) -> bool:
        return not (
            self.jwks_url
            or self.jwt_public_key_file
            or self.jwt_hs256_secret
            or self.jwt_private_key_file
            or self.jwt_private_key_files
        )


def split_keys(value: str) -> list[str]:
    """The keys of a comma-separated key list, blanks dropped."""
    return [key.strip() for key in value.split(",") if key.strip()]


def is_fernet_key(key: str) -> bool:
    """32 bytes in URL-safe base64: what `cryptography.fernet.Fernet` accepts as a key."""
    try:
        return len(base64.urlsafe_b64decode(key.encode("ascii"))) == 32
    except (ValueError, UnicodeEncodeError):
        return False


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment (and explicit overrides); `ConfigError` lists every problem.

    Each problem is one line naming its variable. A setting that is invalid on its own is put back
    to its default for one more pass, so that the rules spanning several settings (production's
    requirements, say) are reported in the same run rather than on the next one.
    """
    known = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    unknown = sorted(
        k
        for k in os.environ
        if k.startswith(ENV_PREFIX) and not k.startswith(TEST_ENV_PREFIX) and k not in known
    )
    problems = []
    if f"{ENV_PREFIX}REFRESH_TOKEN_TTL_SECONDS" in unknown:
        unknown.remove(f"{ENV_PREFIX}REFRESH_TOKEN_TTL_SECONDS")
        problems.append(
            f"{ENV_PREFIX}REFRESH_TOKEN_TTL_SECONDS is replaced by {ENV_PREFIX}SESSION_IDLE_SECONDS "
            f"and {ENV_PREFIX}SESSION_ABSOLUTE_SECONDS (a refresh token lives as its session does)"
        )
    if unknown:
        problems.append(f"unknown setting {', '.join(unknown)} (see README: Configuration)")
    values = dict(overrides)
    settings = None
    reported: set[str] = set()
    for _ in range(len(Settings.model_fields) + 1):  # each pass resets at least one field
        try:
            settings = Settings(**values)
            break
        except ValidationError as exc:
            invalid, found = _problems(exc)
            # A setting reset to its default after a first error is not reported a second time
            # (an invalid SMTP URL is not also a missing one).
            problems += [p for p in found if _variable(p) not in reported]
            reported |= {f"{ENV_PREFIX}{f.upper()}" for f in invalid}
            fresh = {f: Settings.model_fields[f].get_default() for f in invalid if f not in values}
            if not fresh:
                break
            values.update(fresh)
    if problems or settings is None:
        raise ConfigError(*dict.fromkeys(problems))
    return settings


def _problems(exc: ValidationError) -> tuple[set[str], list[str]]:
    """(the fields that are invalid on their own, every problem as a line naming its variable)."""
    fields: set[str] = set()
    problems = []
    for err in exc.errors():
        loc = [str(p) for p in err["loc"]]
        message = err["msg"].removeprefix("Value error, ")
        if loc and loc[0] in Settings.model_fields:
            fields.add(loc[0])
            problems.append(f"{ENV_PREFIX}{loc[0].upper()}: {message}")
        else:
            problems += [line for line in message.splitlines() if line]
    return fields, problems


def _variable(problem: str) -> str | None:
    """The first variable a problem line names."""
    found = re.search(r"AUTHSVC_[A-Z0-9_]+", problem)
    return found.group(0) if found else None
