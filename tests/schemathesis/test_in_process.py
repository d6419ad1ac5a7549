"""schemathesis v4, in-process against the ASGI app: every operation, every default check.

Generated path IDs are mostly random UUIDs (-> 403/404) or malformed (-> 400, negative mode); the
aiming of the CLI run (`tests/schemathesis/hooks.aim_live`) swaps seeded rows into a share of the valid
cases, makes positive create/patch bodies acceptable (a real subrole, a fresh e-mail) and picks the
caller's token, so that 200 and 403 are reached too; `ignored_auth` proves 401. The CLI run's
configuration (`schemathesis.toml` at the repository root) applies, and the statuses reached, per operation
and overall, are asserted at the end of the session.
"""

from __future__ import annotations

import uuid
from collections import Counter, defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from connexion import AsyncApp
from hypothesis import HealthCheck, settings
from schemathesis import Case, GenerationMode
from schemathesis.config import SchemathesisConfig
from sqlalchemy import select
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from authsvc.db.models import Subrole, User
from authsvc.demo import DEMO
from authsvc.security.passwords import hash_password
from authsvc.services.container import Services
from tests.schemathesis.aiming import FORGED_TOKEN, SignIn, aim_live, prepare_demo
from tests.schemathesis.run_live import CONFIG

ADMIN_EMAIL, ADMIN_PASSWORD = "ada.admin@example.com", "Dev-In-Process-Passw0rd!"
REACHED: Counter[int] = Counter()
BY_OPERATION: defaultdict[str, Counter[int]] = defaultdict(Counter)
# Logouts whose bearer does not verify, by status: the refresh token alone must have ended a
# session (200) at least once.
UNVERIFIED_LOGOUTS: Counter[int] = Counter()
config = SchemathesisConfig.from_path(CONFIG)
config.projects.default.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE])


@pytest.fixture
def api_schema(app: AsyncApp) -> Any:
    return schemathesis.openapi.from_asgi("/auth/api/v1/openapi.json", app, config=config)


schema = schemathesis.pytest.from_fixture("api_schema")


@pytest.fixture
def aimed_demo(demo: dict[str, Any], services: Services) -> dict[str, Any]:
    """The demo, with Acme's subroles as a client reads them before creating a user, and a
    password for its admin (what `authsvc demo` gives her in development)."""
    with Session(services.engine) as session, session.begin():
        session.get_one(User, DEMO.admin_user_id).password_hash = hash_password(ADMIN_PASSWORD)
    with Session(services.engine) as session:
        rows = session.scalars(
            select(Subrole).where(Subrole.customer_id == uuid.UUID(demo["customer_id"]))
        ).all()
        subroles = [{"id": str(r.id), "code": r.code, "label": r.label} for r in rows]
    assert subroles, "the demo customer has no subroles"
    aimed = {**demo, "subroles": sorted(subroles, key=lambda s: s["code"])}
    return prepare_demo({**aimed, "admin_email": ADMIN_EMAIL, "admin_password": ADMIN_PASSWORD})


@pytest.fixture
def sign_in(app: AsyncApp, aimed_demo: dict[str, Any]) -> Iterator[SignIn]:
    """Fresh sessions of the demo admin, from the app itself."""
    with TestClient(app) as client:

        def fresh() -> dict[str, Any] | None:
            body = {"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD}
            response = client.post("/auth/api/v1/customer/sign-in", json=body)
            return dict(response.json()["data"]) if response.status_code == 200 else None

        yield fresh


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_contract__every_answer_is_documented(
    case: Case, aimed_demo: dict[str, Any], sign_in: SignIn
) -> None:
    token = aim_live(case, aimed_demo, sign_in) or aimed_demo["admin_token"]
    response = case.call_and_validate(headers={"Authorization": f"Bearer {token}"})
    REACHED[response.status_code] += 1
    BY_OPERATION[f"{case.operation.method.upper()} {case.operation.path}"][
        response.status_code
    ] += 1
    if case.operation.path == "/customer/logout" and token == FORGED_TOKEN:
        UNVERIFIED_LOGOUTS[response.status_code] += 1


# What each operation must have answered at least once (over both backends).
EXPECTED = {
    "GET /customers/{customerID}/users": {200, 400, 403},
    "POST /customers/{customerID}/users": {200, 400, 403},
    "GET /customers/{customerID}/users/{userID}": {200, 400, 403, 404},
    "PATCH /customers/{customerID}/users/{userID}": {200, 400, 403, 404},
    "POST /customers/{customerID}/users/{userID}/resend-invite": {200, 400, 403, 404},
    "GET /customers/{customerID}/subroles": {200, 400, 403},
    "POST /invite/{inviteToken}/accept": {400},
    "POST /customer/sign-in": {200, 400},
    "POST /refresh-token/customer": {200, 400},
    "POST /customer/logout": {200},
    "POST /forgot-password": {200, 400},
    "POST /reset-password": {400},
}


@pytest.fixture(scope="module", autouse=True)
def _statuses_reached() -> Any:
    yield
    if REACHED:  # only when the fuzz test ran (not deselected)
        missing = {200, 400, 401, 403, 404} - set(REACHED)
        assert not missing, f"statuses never reached: {sorted(missing)} (reached {dict(REACHED)})"
        for operation, statuses in EXPECTED.items():
            if operation in BY_OPERATION:  # -k may select some operations only
                lacking = statuses - set(BY_OPERATION[operation])
                assert not lacking, f"{operation} never answered {sorted(lacking)}"
        if "POST /customer/logout" in BY_OPERATION:
            assert UNVERIFIED_LOGOUTS[200], f"no refresh-token-only logout: {UNVERIFIED_LOGOUTS}"
