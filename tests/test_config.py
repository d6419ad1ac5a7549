"""`authsvc.config`: the settings added for the HTTP limits and the URLs checked at load time."""

from __future__ import annotations

import pytest

from authsvc.config import load_settings
from authsvc.errors import ConfigError
from authsvc.web.http_server import HttpLimits


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in list(os.environ):
        if name.startswith("AUTHSVC_") and not name.startswith("AUTHSVC_TEST_"):
            monkeypatch.delenv(name)


def test_http_limits__defaults_are_nginx_like() -> None:
    assert load_settings().http_limits == HttpLimits(
        max_request_line_bytes=8192,
        max_header_bytes=8192,
        max_headers_bytes=65536,
        header_timeout_seconds=10.0,
        keepalive_timeout_seconds=5.0,
        max_connections=512,
        max_body_bytes=1024 * 1024,
    )


def test_http_limits__from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AUTHSVC_HTTP_MAX_HEADER_BYTES", "4096")
    monkeypatch.setenv("AUTHSVC_HTTP_HEADER_TIMEOUT_SECONDS", "1.5")
    monkeypatch.setenv("AUTHSVC_HTTP_MAX_CONNECTIONS", "20")
    monkeypatch.setenv("AUTHSVC_HTTP_MAX_BODY_BYTES", "65536")
    limits = load_settings().http_limits
    assert limits.max_body_bytes == 65536
    assert (limits.max_header_bytes, limits.header_timeout_seconds, limits.max_connections) == (
        4096,
        1.5,
        20,
    )


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("AUTHSVC_HTTP_MAX_CONNECTIONS", "0", "AUTHSVC_HTTP_MAX_CONNECTIONS"),
        ("AUTHSVC_HTTP_MAX_HEADER_BYTES", "100", "AUTHSVC_HTTP_MAX_HEADER_BYTES"),
        (
            "AUTHSVC_HTTP_MAX_HEADER_BYTES",
            "131072",
            "must not exceed AUTHSVC_HTTP_MAX_HEADERS_BYTES",
        ),
        ("AUTHSVC_HTTP_HEADER_TIMEOUT_SECONDS", "0", "AUTHSVC_HTTP_HEADER_TIMEOUT_SECONDS"),
        ("AUTHSVC_HTTP_KEEPALIVE_TIMEOUT_SECONDS", "soon", "AUTHSVC_HTTP_KEEPALIVE_TIMEOUT"),
        ("AUTHSVC_DATABASE_URL", "garbage", "AUTHSVC_DATABASE_URL: not a database URL"),
        ("AUTHSVC_DATABASE_URL", "mysql://u:pw-SECRET@h/db", "unsupported database 'mysql'"),
        ("AUTHSVC_SMTP_URL", "http://u:pw-SECRET@x", "AUTHSVC_SMTP_URL: scheme must be one of"),
        ("AUTHSVC_SMTP_URL", "smtp://", "AUTHSVC_SMTP_URL: missing host"),
    ],
    ids=[
        "no-connections",
        "header-too-small",
        "header-above-total",
        "zero-timeout",
        "timeout-not-a-number",
        "database-garbage",
        "database-unsupported",
        "smtp-http-scheme",
        "smtp-no-host",
    ],
)
def test_load_settings__invalid__names_the_variable_never_the_secret(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=message) as caught:
        load_settings()
    assert "SECRET" not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    ["sqlite:///x.db", "postgresql+psycopg://u:p@h/db", "postgresql://h/db"],
    ids=["sqlite", "psycopg", "postgresql"],
)
def test_load_settings__supported_database_urls(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("AUTHSVC_DATABASE_URL", url)
    assert load_settings().database_url == url


def test_trusted_proxies__none_by_default() -> None:
    assert load_settings().trusted_proxies == ()


def test_trusted_proxies__addresses_and_networks_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AUTHSVC_TRUSTED_PROXIES", " 10.0.0.0/8, 192.0.2.1 ,2001:db8::/32,")
    assert load_settings().trusted_proxies == ("10.0.0.0/8", "192.0.2.1", "2001:db8::/32")


@pytest.mark.parametrize("value", ["proxy.example.com", "10.0.0.0/33", "10.0.0.1:8080"])
def test_trusted_proxies__anything_else_is_refused_by_name(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("AUTHSVC_TRUSTED_PROXIES", value)
    with pytest.raises(ConfigError, match="AUTHSVC_TRUSTED_PROXIES: not an IP address or CIDR"):
        load_settings()
