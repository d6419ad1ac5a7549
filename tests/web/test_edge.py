"""`authsvc.web.edge`: the request id, `/metrics` (and who may read it), `/readyz`, over real HTTP."""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import create_engine, select, text
from sqlalchemy.orm import Session

from authsvc.cli import demo_info
from authsvc.config import Settings, load_settings
from authsvc.db.engine import make_session_factory
from authsvc.db.migrate import upgrade_database
from authsvc.db.models import AuditEvent
from authsvc.demo import seed_demo_data
from authsvc.factory import build_services, create_app
from tests.support.contract_check import assert_documented
from tests.support.live_server import live_server

API = "/auth/api/v1"
HEX32 = re.compile(r"^[0-9a-f]{32}$")


def _serve(settings: Settings) -> tuple[Any, dict[str, Any]]:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    services = build_services(settings)
    seed_demo_data(make_session_factory(services.engine, write=True))
    return create_app(settings, services=services), demo_info(settings, "http://unused")


@pytest.fixture
def served(settings: Settings) -> Any:
    app, demo = _serve(settings)
    with live_server(app) as base:
        yield base, demo


def _resend(base: str, demo: dict[str, Any], **headers: str) -> httpx.Response:
    return httpx.post(
        f"{base}{API}/customers/{demo['customer_id']}/users/{demo['invited_user_id']}/resend-invite",
        headers={"Authorization": f"Bearer {demo['admin_token']}", **headers},
    )


@pytest.mark.parametrize(
    ("sent", "kept"),
    [
        ("req-1.A_b", True),
        ("x" * 128, True),
        ("x" * 129, False),
        ("has space", False),
        ("<script>", False),
        ("", False),
    ],
    ids=["well-formed", "128-chars", "129-chars", "space", "markup", "empty"],
)
def test_request_id__kept_when_well_formed_else_generated(
    served: Any, sent: str, kept: bool
) -> None:
    base, _demo = served
    response = httpx.get(f"{base}/healthz", headers={"X-Request-ID": sent})
    echoed = response.headers["x-request-id"]
    assert echoed == sent if kept else HEX32.match(echoed)


def test_request_id__generated_per_request_and_on_every_status(served: Any) -> None:
    base, demo = served
    answers = [
        httpx.get(f"{base}/healthz"),
        httpx.get(f"{base}{API}/customers/{demo['customer_id']}/users"),  # 401
        httpx.get(f"{base}{API}/nowhere"),  # 404, before routing
        httpx.delete(f"{base}/healthz"),  # 405
        httpx.get(f"{base}{API}/openapi.json"),  # not an operation
    ]
    assert [r.status_code for r in answers] == [200, 401, 404, 405, 200]
    ids = [r.headers["x-request-id"] for r in answers]
    assert all(HEX32.match(i) for i in ids)
    assert len(set(ids)) == len(ids)


def test_request_id__stored_with_the_audit_event(served: Any, settings: Settings) -> None:
    base, demo = served
    assert _resend(base, demo, **{"X-Request-ID": "trace-42"}).status_code == 200
    refused = httpx.post(
        f"{base}{API}/customers/{demo['customer_id']}/users/{demo['invited_user_id']}/resend-invite",
        headers={"Authorization": f"Bearer {demo['member_token']}", "X-Request-ID": "trace-43"},
    )
    assert refused.status_code == 403
    engine = create_engine(settings.resolved_database_url)
    try:
        with Session(engine) as session:
            events = session.execute(
                select(AuditEvent.request_id, AuditEvent.outcome).where(
                    AuditEvent.action == "invite.resend"
                )
            ).all()
    finally:
        engine.dispose()
    assert sorted(events) == [("trace-42", "success"), ("trace-43", "Forbidden")]


def _samples(text_: str, name: str) -> dict[tuple[tuple[str, str], ...], float]:
    found = {}
    for line in text_.splitlines():
        match = re.match(rf"^{name}(?:\{{(.*)\}})? (\S+)$", line)
        if match:
            labels = tuple(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
            found[labels] = float(match.group(2))
    return found


def test_metrics__operations_statuses_and_outbox(served: Any) -> None:
    base, demo = served
    before = _samples(
        httpx.get(f"{base}/metrics").text, "authsvc_http_request_duration_seconds_count"
    )
    assert _resend(base, demo).status_code == 200
    assert httpx.get(f"{base}{API}/customers/{uuid.uuid4()}/users").status_code == 401
    response = httpx.get(f"{base}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    counts = _samples(response.text, "authsvc_http_request_duration_seconds_count")

    def grew(operation: str, status: str) -> float:
        key = (("operation_id", operation), ("status", status))
        return counts.get(key, 0) - before.get(key, 0)

    assert grew("customers.resend_invite", "200") == 1
    assert grew("users.list_customer_users", "401") == 1
    labels = {value for key in counts for _name, value in key}
    assert not [v for v in labels if "/" in v or re.search(r"[0-9a-f]{8}-", v)]  # no raw paths
    outbox = _samples(response.text, "authsvc_outbox_messages")
    assert outbox[(("status", "pending"),)] >= 1
    assert _samples(response.text, "authsvc_outbox_oldest_pending_age_seconds")[()] >= 0
    for counter in ("authsvc_sign_in_failures_total", "authsvc_sign_in_throttled_total"):
        assert f"\n{counter} " in response.text
    failures = _samples(response.text, "authsvc_sign_in_failures_total")[()]
    refused = httpx.post(
        f"{base}{API}/customer/sign-in",
        json={"email": "nobody@example.com", "password": "Wrong-Horse-1"},
    )
    assert refused.status_code == 400
    after = _samples(httpx.get(f"{base}/metrics").text, "authsvc_sign_in_failures_total")[()]
    assert after == failures + 1


def test_metrics__outside_the_allowlist__the_documented_404(
    tmp_path: Path, database_url: str
) -> None:
    settings = load_settings(
        environment="test",
        data_dir=tmp_path,
        database_url=database_url,
        metrics_allow=("10.0.0.0/8",),
    )
    app, _demo = _serve(settings)
    with live_server(app) as base:
        refused = httpx.get(f"{base}/metrics")
    assert refused.status_code == 404
    assert_documented(refused, "health.metrics")
    assert "authsvc_" not in refused.text


def test_readyz__ready_on_a_migrated_database(served: Any) -> None:
    base, _demo = served
    response = httpx.get(f"{base}/readyz")
    assert response.status_code == 200
    assert assert_documented(response) == {
        "status": "ready",
        "database": "ok",
        "migrations": "current",
        "signing_key": "loaded",
    }


def test_readyz__503_when_the_schema_is_behind(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade_database(url, "0002")
    settings = load_settings(environment="test", data_dir=tmp_path, database_url=url)
    with live_server(create_app(settings)) as base:
        response = httpx.get(f"{base}/readyz")
    assert response.status_code == 503
    assert assert_documented(response)["migrations"] == "behind"


def test_readyz__503_when_the_database_does_not_answer(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'gone.db'}"
    upgrade_database(url)
    settings = load_settings(
        environment="test", data_dir=tmp_path, database_url=url, db_timeout_seconds=0.5
    )
    app = create_app(settings)
    with live_server(app) as base:
        engine = create_engine(url)
        with engine.connect() as holder:
            # An exclusive lock: every reader waits out the busy timeout, then gives up.
            holder.exec_driver_sql("PRAGMA journal_mode=DELETE")
            holder.exec_driver_sql("BEGIN EXCLUSIVE")
            holder.execute(text("SELECT 1"))
            response = httpx.get(f"{base}/readyz", timeout=10)
            holder.exec_driver_sql("ROLLBACK")
        engine.dispose()
    assert response.status_code == 503
    assert assert_documented(response)["database"] == "unreachable"
