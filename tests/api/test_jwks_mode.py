"""The service with keys from a JWKS URL: tokens verify (off the event loop) and rotation needs no restart."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from starlette.testclient import TestClient

from authsvc.config import Settings
from authsvc.db.engine import make_session_factory
from authsvc.demo import DEMO, seed_demo_data
from authsvc.factory import build_services, create_app
from authsvc.security.jwk import public_jwk
from authsvc.security.keys import DevKeys, load_or_create_dev_keys
from authsvc.security.principal import RESEND_INVITE_PERMISSION
from authsvc.security.tokens import mint_token
from tests.support.keys import RecordingServer, recording_server

JWKS_PATH = "/.well-known/jwks.json"


@pytest.fixture
def jwks() -> Iterator[RecordingServer]:
    with recording_server() as server:
        yield server


@pytest.fixture
def jwks_client(settings: Settings, jwks: RecordingServer) -> Iterator[TestClient]:
    jwks_settings = settings.model_copy(
        update={"jwks_url": jwks.url(JWKS_PATH), "jwks_refresh_cooldown_seconds": 1}
    )
    jwks_settings.data_dir.mkdir(parents=True, exist_ok=True)
    services = build_services(jwks_settings)
    seed_demo_data(make_session_factory(services.engine, write=True))
    with create_app(jwks_settings, services=services).test_client() as client:
        yield client
    services.engine.dispose()


def other_dev_keys(tmp_path: Any) -> DevKeys:
    return load_or_create_dev_keys(tmp_path / "rotated")


def publish(server: RecordingServer, *keys: DevKeys) -> None:
    documents = [
        public_jwk(serialization.load_pem_public_key(k.public_pem), k.kid)  # type: ignore[arg-type]
        for k in keys
    ]
    server.serve_json(JWKS_PATH, {"keys": documents})


def resend(client: TestClient, keys: DevKeys, settings: Settings) -> int:
    token = mint_token(
        keys,
        subject=DEMO.admin_user_id,
        customer_id=DEMO.customer_id,
        permissions=(RESEND_INVITE_PERMISSION,),
        issuer=settings.jwt_issuer,
        audience=settings.jwt_audience,
    )
    url = f"/auth/api/v1/customers/{DEMO.customer_id}/users/{uuid.uuid4()}/resend-invite"
    return client.post(url, headers={"Authorization": f"Bearer {token}"}).status_code


def test_jwks_mode__published_key_verifies_and_rotation_needs_no_restart(
    jwks_client: TestClient, jwks: RecordingServer, settings: Settings, tmp_path: Any
) -> None:
    first = load_or_create_dev_keys(settings.data_dir)
    second = other_dev_keys(tmp_path)
    publish(jwks, first)
    assert resend(jwks_client, first, settings) == 404  # verified and authorised: unknown user
    assert resend(jwks_client, second, settings) == 401  # not published yet
    publish(jwks, first, second)
    time.sleep(1.1)  # the refresh cooldown
    assert resend(jwks_client, second, settings) == 404
    assert len(jwks.hits) <= 3


def test_jwks_mode__unreachable_jwks_is_401_not_500(
    jwks_client: TestClient, jwks: RecordingServer, settings: Settings
) -> None:
    jwks.stop()
    assert resend(jwks_client, load_or_create_dev_keys(settings.data_dir), settings) == 401


def test_jwks_mode__unknown_signing_key_is_401(
    jwks_client: TestClient, jwks: RecordingServer, settings: Settings
) -> None:
    publish(jwks, load_or_create_dev_keys(settings.data_dir))
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = stranger.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    forged = DevKeys(
        private_pem=pem, public_pem=b"", kid=load_or_create_dev_keys(settings.data_dir).kid
    )
    assert resend(jwks_client, forged, settings) == 401
