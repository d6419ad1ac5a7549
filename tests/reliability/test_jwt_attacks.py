"""JWT attacks through the HTTP app: every forged, tampered or stale token is the documented 401.

Unit tests in tests/security cover the verifier's internals; here each token goes through the
whole service (routing, security handler, error renderer) as a client would send it, and the test
asserts what the client sees: 401, the contract's body, `WWW-Authenticate: Bearer`, no mail queued,
and no request to the URLs that `jku`/`x5u` headers point at.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from sqlalchemy import delete, update
from sqlalchemy.orm import Session
from starlette.testclient import TestClient

from authsvc.cli import demo_info
from authsvc.config import load_settings
from authsvc.db.engine import make_session_factory
from authsvc.db.models import SignInSession, User, UserStatus
from authsvc.db.types import utcnow
from authsvc.demo import DEMO, seed_demo_data
from authsvc.factory import build_services, create_app
from authsvc.security.issuer import IssuedTokens
from authsvc.security.keys import DevKeys, load_or_create_dev_keys
from authsvc.services.container import Services
from authsvc.services.sessions import end_session, start_session
from tests.reliability.support import (
    UNAUTHORIZED,
    RecordingServer,
    bearer,
    outbox_count,
    resend_path,
)


def b64(data: bytes | dict[str, Any]) -> str:
    raw = json.dumps(data).encode() if isinstance(data, dict) else data
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


@dataclass
class World:
    client: TestClient
    services: Services
    keys: DevKeys
    issuer: str
    audience: str
    recorder: RecordingServer

    def claims(self, **changes: Any) -> dict[str, Any]:
        """The claims of a valid token of the demo admin; `None` values drop the claim."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.audience,
            "sub": str(DEMO.admin_user_id),
            "iat": now,
            "exp": now + 600,
            "customer_id": str(DEMO.customer_id),
            "permissions": ["users:resend-invite"],
            "platform_admin": False,
        }
        claims.update(changes)
        return {k: v for k, v in claims.items() if v is not None}

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        """RS256 with the service's own key: valid unless the claims or header say otherwise."""
        return rs256(
            {"alg": "RS256", "typ": "JWT", "kid": self.keys.kid, **header},
            claims,
            self.keys.private_pem,
        )


def rs256(header: dict[str, Any], claims: dict[str, Any], private_pem: bytes) -> str:
    """A compact JWS signed by hand, so that headers PyJWT would refuse to write can be sent."""
    key = serialization.load_pem_private_key(private_pem, password=None)
    assert isinstance(key, rsa.RSAPrivateKey)
    signing_input = f"{b64(header)}.{b64(claims)}"
    signature = key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64(signature)}"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, sqlite_template: Path) -> Iterator[World]:
    """One app on SQLite for the whole table: attacks that need no database state of their own."""
    directory = tmp_path_factory.mktemp("jwt-attacks")
    shutil.copy(sqlite_template, directory / "authsvc.db")
    settings = load_settings(
        environment="test",
        data_dir=directory,
        database_url=f"sqlite:///{directory / 'authsvc.db'}",
    )
    services = build_services(settings)
    seed_demo_data(make_session_factory(services.engine, write=True))
    app = create_app(settings, services=services)
    recorder = RecordingServer()
    with recorder.running(), app.test_client() as client:
        yield World(
            client,
            services,
            load_or_create_dev_keys(directory),
            settings.jwt_issuer,
            settings.jwt_audience,
            recorder,
        )
    services.engine.dispose()


def _alg_none(w: World) -> str:
    return f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(w.claims())}."


def _hs256_with_public_key(w: World) -> str:
    # Algorithm confusion: an HMAC "signed" with the RSA public key, which anyone can download.
    signing_input = f"{b64({'alg': 'HS256', 'typ': 'JWT', 'kid': w.keys.kid})}.{b64(w.claims())}"
    mac = hmac.new(w.keys.public_pem, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(mac)}"


def _stripped_signature(w: World) -> str:
    return w.sign(w.claims()).rsplit(".", 1)[0] + "."


def _tampered_payload(w: World) -> str:
    header, _payload, signature = w.sign(w.claims()).split(".")
    return f"{header}.{b64(w.claims(platform_admin=True))}.{signature}"


def _other_key_same_kid(w: World) -> str:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return jwt.encode(w.claims(), pem, algorithm="RS256", headers={"kid": w.keys.kid})


def _embedded_jwk(w: World) -> str:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = other.public_key().public_numbers()
    jwk = {
        "kty": "RSA",
        "n": b64(numbers.n.to_bytes(256, "big")),
        "e": b64(numbers.e.to_bytes(3, "big")),
    }
    pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return jwt.encode(w.claims(), pem, algorithm="RS256", headers={"jwk": jwk})


def _session_tokens(w: World, *, end: bool) -> IssuedTokens:
    """Real tokens of a real session of the demo admin (ended at once when `end`)."""
    with w.services.engine.begin() as connection:
        tokens = start_session(
            connection,
            w.services.issuer,
            user_id=DEMO.admin_user_id,
            customer_id=DEMO.customer_id,
            permissions=["users:resend-invite"],
            now=utcnow(),
        )
        if end:
            session_id = jwt.decode(tokens.id_token, options={"verify_signature": False})["sid"]
            end_session(connection, uuid.UUID(session_id), reason="logout", now=utcnow())
    return tokens


ATTACKS: list[tuple[str, Callable[[World], str]]] = [
    ("refresh-token-as-bearer", lambda w: _session_tokens(w, end=False).refresh_token),
    ("id-token-of-an-ended-session", lambda w: _session_tokens(w, end=True).id_token),
    ("access-token-of-an-ended-session", lambda w: _session_tokens(w, end=True).access_token),
    ("sid-of-no-session", lambda w: w.sign(w.claims(sid=str(uuid.uuid4())))),
    ("sid-not-a-uuid", lambda w: w.sign(w.claims(sid="session-1"))),
    ("alg-none", _alg_none),
    ("alg-none-uppercase", lambda w: f"{b64({'alg': 'NONE'})}.{b64(w.claims())}.x"),
    ("hs256-signed-with-public-key", _hs256_with_public_key),
    ("stripped-signature", _stripped_signature),
    ("tampered-payload-original-signature", _tampered_payload),
    ("other-key-same-kid", _other_key_same_kid),
    ("bad-base64-header", lambda w: "eyJ!!!." + w.sign(w.claims()).split(".", 1)[1]),
    ("bad-base64-padding", lambda w: w.sign(w.claims()) + "=="),
    ("header-not-json", lambda w: f"{b64(b'not json')}.{b64(w.claims())}.c2ln"),
    ("two-segments", lambda w: ".".join(w.sign(w.claims()).split(".")[:2])),
    ("oversized-but-signed", lambda w: w.sign(w.claims(padding="A" * 9000))),
    ("expired", lambda w: w.sign(w.claims(exp=int(time.time()) - 3600))),
    ("nbf-in-future", lambda w: w.sign(w.claims(nbf=int(time.time()) + 3600))),
    ("wrong-issuer", lambda w: w.sign(w.claims(iss="https://evil.example"))),
    ("wrong-audience", lambda w: w.sign(w.claims(aud="another-service"))),
    ("missing-sub", lambda w: w.sign(w.claims(sub=None))),
    ("missing-exp", lambda w: w.sign(w.claims(exp=None))),
    ("sub-not-a-uuid", lambda w: w.sign(w.claims(sub="admin"))),
    ("platform-admin-as-string", lambda w: w.sign(w.claims(platform_admin="true"))),
    ("unknown-kid", lambda w: w.sign(w.claims(), kid="unknown-key-2024")),
    ("kid-path-traversal", lambda w: w.sign(w.claims(), kid="../../../../etc/passwd")),
    ("kid-sql-injection", lambda w: w.sign(w.claims(), kid="x' OR '1'='1' --")),
    ("kid-not-a-string", lambda w: w.sign(w.claims(), kid=7)),
    ("jku-to-loopback", lambda w: w.sign(w.claims(), jku=w.recorder.url + "/jwks.json")),
    ("x5u-to-loopback", lambda w: w.sign(w.claims(), x5u=w.recorder.url + "/cert.pem")),
    ("embedded-jwk", _embedded_jwk),
    ("caller-never-existed", lambda w: w.sign(w.claims(sub=str(uuid.uuid4())))),
]


def _post(w: World, token: str) -> Any:
    return w.client.post(resend_path(DEMO.customer_id, DEMO.invited_user_id), headers=bearer(token))


def test_jwt_attack__control_token_is_accepted(world: World) -> None:
    """The table's tokens are built like this one; it passes, so their 401s are the attacks'."""
    response = _post(world, world.sign(world.claims()))
    assert response.status_code == 200, response.text


def test_jwt_attack__control_session_token_is_accepted(world: World) -> None:
    """An id_token of a live session passes: the ended-session rows' 401s are the ending's."""
    response = _post(world, _session_tokens(world, end=False).id_token)
    assert response.status_code == 200, response.text


def test_jwt_attack__an_id_token_is_no_refresh_token(world: World) -> None:
    tokens = _session_tokens(world, end=False)
    response = world.client.post(
        "/auth/api/v1/refresh-token/customer", json={"refresh_token": tokens.id_token}
    )
    assert response.status_code == 400
    assert response.json()["message"] == "Refresh Token is invalid or has expired"


@pytest.mark.parametrize("attack", [a[1] for a in ATTACKS], ids=[a[0] for a in ATTACKS])
def test_jwt_attack__documented_401(world: World, attack: Callable[[World], str]) -> None:
    before = outbox_count(world.services.engine)
    response = _post(world, attack(world))
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == UNAUTHORIZED
    assert outbox_count(world.services.engine) == before
    assert world.recorder.requests == [], "the service fetched a URL named by a token"


@pytest.mark.parametrize(
    "change",
    ["deleted", "inactive", "invited"],
    ids=["deleted-caller", "inactive-caller", "caller-not-yet-onboarded"],
)
def test_jwt_attack__valid_token_of_a_caller_who_may_no_longer_call__401(
    client: TestClient, demo: dict[str, Any], services: Services, change: str
) -> None:
    engine = services.engine
    with Session(engine) as session, session.begin():
        if change == "deleted":  # with the sessions that name the user
            session.execute(
                delete(SignInSession).where(SignInSession.user_id == DEMO.admin_user_id)
            )
            session.delete(session.get_one(User, DEMO.admin_user_id))
        else:
            status = UserStatus.INACTIVE if change == "inactive" else UserStatus.INVITED
            session.execute(update(User).where(User.id == DEMO.admin_user_id).values(status=status))
    response = client.post(
        resend_path(demo["customer_id"], demo["invited_user_id"]),
        headers=bearer(demo["admin_token"]),
    )
    assert response.status_code == 401
    assert response.json() == UNAUTHORIZED
    assert outbox_count(engine) == 0


def test_jwt_attack__demo_info_tokens_match_the_world(world: World) -> None:
    """Guard: the module's app trusts the same dev key as `authsvc demo` would print."""
    settings = world.services.settings
    assert demo_info(settings, "http://x")["public_key_pem"] == world.keys.public_pem.decode()
