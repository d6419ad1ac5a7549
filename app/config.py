"""Settings read from `AUTHSVC_*` environment variables, validated once at startup.

Every field has an embedded default that runs the service on one machine (SQLite, a mail folder,
a generated dev key). Outside `development`, the defaults that are only safe on a laptop are refused,
and every error names the variable to fix.
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from authsvc.errors import ConfigError
from authsvc.smtp_url import parse_smtp_url

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
    outbox_batch_size: int = Field(default=20, ge=1)
    outbox_max_attempts: int = Field(default=12, ge=1)
    outbox_backoff_seconds: float = Field(default=2.0, gt=0)
    outbox_backoff_max_seconds: float = Field(default=900.0, gt=0)
    outbox_lease_seconds: float = Field(default=120.0, gt=0)

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

    @field_validator("jwt_algorithms", mode="before")
    @classmethod
    def _split_algorithms(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(a.strip() for a in value.split(",") if a.strip())
        return value

    @field_validator("jwt_algorithms")
    @classmethod
    def _known_algorithms(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = [a for a in value if a not in (*ASYMMETRIC_ALGORITHMS, "HS256")]
        if unknown or not value:
            raise ValueError(f"allowed: RS256, ES256, HS256; got {', '.join(value) or 'nothing'}")
        return value

    @field_validator("trusted_proxies", mode="before")
    @classmethod
    def _split_proxies(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(p.strip() for p in value.split(",") if p.strip())
        return value

    @field_validator("trusted_proxies")
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

    @model_validator(mode="after")
    def _coherent(self) -> Settings:
        if self.http_max_header_bytes > self.http_max_headers_bytes:
            raise ValueError(
                "AUTHSVC_HTTP_MAX_HEADER_BYTES must not exceed AUTHSVC_HTTP_MAX_HEADERS_BYTES"
            )
        secret = self.jwt_hs256_secret.get_secret_value() if self.jwt_hs256_secret else None
        if secret is not None:
            # A shared secret switches the service to HS256 alone: mixing HMAC with public-key
            # algorithms is what makes algorithm-confusion attacks possible.
            if self.jwt_algorithms not in (("HS256",), ASYMMETRIC_ALGORITHMS):
                raise ValueError("AUTHSVC_JWT_ALGORITHMS must be HS256 when a shared secret is set")
            object.__setattr__(self, "jwt_algorithms", ("HS256",))
            if len(secret) < 32 or secret.lower() in PLACEHOLDER_SECRETS:
                raise ValueError("AUTHSVC_JWT_HS256_SECRET must be at least 32 random characters")
        elif "HS256" in self.jwt_algorithms:
            raise ValueError(
                "AUTHSVC_JWT_ALGORITHMS has HS256 but AUTHSVC_JWT_HS256_SECRET is unset"
            )
        if self.jwks_url and self.jwt_public_key_file:
            raise ValueError("set AUTHSVC_JWKS_URL or AUTHSVC_JWT_PUBLIC_KEY_FILE, not both")
        if self.environment == "production":
            if self.jwt_private_key_file is None:
                raise ValueError(
                    "production needs AUTHSVC_JWT_PRIVATE_KEY_FILE: it signs the tokens the "
                    "service issues, and verifies them (AUTHSVC_JWKS_URL or "
                    "AUTHSVC_JWT_PUBLIC_KEY_FILE add another issuer's keys); the generated dev key "
                    "is for development only"
                )
            if self.database_url is None:
                raise ValueError("production needs AUTHSVC_DATABASE_URL")
            if self.smtp_url is None:
                raise ValueError("production needs AUTHSVC_SMTP_URL")
        return self

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
    def uses_dev_key(self) -> bool:
        return not (
            self.jwks_url
            or self.jwt_public_key_file
            or self.jwt_hs256_secret
            or self.jwt_private_key_file
        )


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment (and explicit overrides); `ConfigError` names the variable."""
    known = {f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields}
    unknown = sorted(
        k
        for k in os.environ
        if k.startswith(ENV_PREFIX) and not k.startswith(TEST_ENV_PREFIX) and k not in known
    )
    if f"{ENV_PREFIX}REFRESH_TOKEN_TTL_SECONDS" in unknown:
        raise ConfigError(
            f"{ENV_PREFIX}REFRESH_TOKEN_TTL_SECONDS is replaced by {ENV_PREFIX}SESSION_IDLE_SECONDS "
            f"and {ENV_PREFIX}SESSION_ABSOLUTE_SECONDS (a refresh token lives as its session does)"
        )
    if unknown:
        raise ConfigError(f"unknown setting {', '.join(unknown)} (see README: Configuration)")
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"])
            name = f"{ENV_PREFIX}{field.upper()}" if field else "configuration"
            message = err["msg"].removeprefix("Value error, ")
            problems.append(f"{name}: {message}" if field else message)
        raise ConfigError("; ".join(problems)) from None
