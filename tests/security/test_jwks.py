from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from authsvc.errors import Unauthorized
from authsvc.security.jwk import public_jwk
from authsvc.security.jwks import FetchSchedule, JwksKeySource
from authsvc.security.principal import Principal
from authsvc.security.tokens import TokenVerifier
from tests.reliability.support import wait_until
from tests.support.keys import AUDIENCE, ISSUER, FakeClock, RecordingServer, b64url, claims, sign

CACHE = 300.0
COOLDOWN = 30.0
PATH = "/jwks.json"

SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def source(server: RecordingServer, clock: FakeClock) -> JwksKeySource:
    return JwksKeySource(server.url(PATH), CACHE, COOLDOWN, 2.0, clock=clock)


@pytest.fixture
def verifier(source: JwksKeySource) -> TokenVerifier:
    return TokenVerifier(source, algorithms=("RS256", "ES256"), issuer=ISSUER, audience=AUDIENCE)


def _publish(server: RecordingServer, *keys: tuple[SigningKey, str]) -> None:
    server.serve_json(PATH, {"keys": [public_jwk(key.public_key(), kid) for key, kid in keys]})


def _token(key: SigningKey, kid: str | None) -> str:
    alg = "RS256" if isinstance(key, rsa.RSAPrivateKey) else "ES256"
    return sign(claims(), key, alg, **({"kid": kid} if kid else {}))


def test_jwks__rotation_without_restart(
    server: RecordingServer,
    clock: FakeClock,
    verifier: TokenVerifier,
    rsa_key: rsa.RSAPrivateKey,
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    _publish(server, (rsa_key, "k1"))
    assert isinstance(verifier.verify(_token(rsa_key, "k1")), Principal)
    assert len(server.hits) == 1

    # The issuer publishes a new key and starts signing with it.
    _publish(server, (rsa_key, "k1"), (ec_key, "k2"))
    clock.advance(COOLDOWN)
    assert isinstance(verifier.verify(_token(ec_key, "k2")), Principal)
    assert isinstance(verifier.verify(_token(rsa_key, "k1")), Principal)
    assert len(server.hits) == 2

    # The old key is withdrawn: once the cache expires, tokens signed with it stop working.
    _publish(server, (ec_key, "k2"))
    clock.advance(CACHE)
    with pytest.raises(Unauthorized):
        verifier.verify(_token(rsa_key, "k1"))
    assert isinstance(verifier.verify(_token(ec_key, "k2")), Principal)
    assert len(server.hits) == 3


def test_jwks__unknown_kid_waits_for_cooldown(
    server: RecordingServer,
    clock: FakeClock,
    verifier: TokenVerifier,
    rsa_key: rsa.RSAPrivateKey,
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    _publish(server, (rsa_key, "k1"))
    verifier.verify(_token(rsa_key, "k1"))
    _publish(server, (rsa_key, "k1"), (ec_key, "k2"))

    clock.advance(COOLDOWN - 1)
    with pytest.raises(Unauthorized):
        verifier.verify(_token(ec_key, "k2"))
    assert len(server.hits) == 1

    clock.advance(1)
    verifier.verify(_token(ec_key, "k2"))
    assert len(server.hits) == 2


def test_jwks__random_kid_flood_fetches_once_per_cooldown_window(
    server: RecordingServer,
    clock: FakeClock,
    verifier: TokenVerifier,
    rsa_key: rsa.RSAPrivateKey,
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    _publish(server, (rsa_key, "k1"))
    flood = [_token(ec_key, secrets.token_urlsafe(12)) for _ in range(200)]

    for window in (1, 2):
        for token in flood:
            with pytest.raises(Unauthorized):
                verifier.verify(token)
        assert len(server.hits) == window
        # The real key keeps working throughout the flood.
        verifier.verify(_token(rsa_key, "k1"))
        clock.advance(COOLDOWN)
    assert len(server.hits) == 2


def test_jwks__concurrent_random_kid_flood_fetches_once(
    server: RecordingServer,
    verifier: TokenVerifier,
    rsa_key: rsa.RSAPrivateKey,
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    _publish(server, (rsa_key, "k1"))
    server.delay_seconds = 0.05  # a slow JWKS makes racing fetchers overlap
    tokens = [[_token(ec_key, secrets.token_urlsafe(12)) for _ in range(25)] for _ in range(8)]
    tokens[0].append(_token(rsa_key, "k1"))
    outcomes: list[str] = []
    barrier = threading.Barrier(len(tokens))

    def attack(batch: list[str]) -> None:
        barrier.wait()
        for token in batch:
            try:
                verifier.verify(token)
                outcomes.append("ok")
            except Unauthorized:
                outcomes.append("401")

    threads = [threading.Thread(target=attack, args=(batch,)) for batch in tokens]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert len(server.hits) == 1
    assert sorted(set(outcomes)) == ["401", "ok"]
    assert outcomes.count("ok") == 1
    assert len(outcomes) == 201


def test_fetch_schedule__one_flight_at_a_time_and_cooldown_from_its_end(clock: FakeClock) -> None:
    schedule = FetchSchedule(2.0, clock)
    joined = schedule.join()
    assert joined is not None
    flight, started = joined
    assert started
    assert schedule.join() == (flight, False)  # joins, does not start a second fetch
    clock.advance(5.0)  # the fetch takes longer than the cooldown
    assert schedule.join() == (flight, False)
    assert not flight.landed.is_set()

    schedule.land(flight)
    assert flight.landed.is_set()  # everyone waiting for it wakes
    clock.advance(1.9)
    assert schedule.join() is None  # cooling down, counted from the end of the fetch
    clock.advance(0.1)
    joined = schedule.join()
    assert joined is not None
    assert joined[1]
    assert joined[0] is not flight


def test_jwks__unknown_kids_share_one_slow_fetch_and_cool_down_after_it(
    server: RecordingServer, clock: FakeClock, rsa_key: rsa.RSAPrivateKey
) -> None:
    server.serve(PATH, b"{}", 503)
    server.gate = threading.Event()
    source = JwksKeySource(server.url(PATH), CACHE, COOLDOWN, 30.0, clock=clock)
    outcomes: list[str] = []

    def lookup() -> None:
        try:
            source.key_for("k2")
            outcomes.append("key")
        except Unauthorized:
            outcomes.append("401")

    threads = [threading.Thread(target=lookup) for _ in range(8)]
    for thread in threads:
        thread.start()
    wait_until(lambda: bool(server.hits), timeout=10)
    # The fetch outlasts the cooldown: every caller still waits for this one fetch (or, arriving
    # after it, meets the cooldown that starts when it ends) instead of making its own.
    clock.advance(3 * COOLDOWN)
    server.gate.set()
    for thread in threads:
        thread.join()
    assert outcomes == ["401"] * 8
    assert server.hits == [PATH]

    _publish(server, (rsa_key, "k2"))
    clock.advance(COOLDOWN - 1)
    with pytest.raises(Unauthorized):
        source.key_for("k2")
    assert server.hits == [PATH]
    clock.advance(1)
    assert source.key_for("k2").kid == "k2"
    assert server.hits == [PATH, PATH]


def test_jwks__concurrent_known_kid_during_refresh_keeps_working(
    server: RecordingServer,
    clock: FakeClock,
    verifier: TokenVerifier,
    rsa_key: rsa.RSAPrivateKey,
) -> None:
    _publish(server, (rsa_key, "k1"))
    token = _token(rsa_key, "k1")
    verifier.verify(token)
    clock.advance(CACHE)
    server.delay_seconds = 0.3
    failures: list[BaseException] = []

    def call() -> None:
        try:
            verifier.verify(token)
        except Exception as exc:
            failures.append(exc)

    threads = [threading.Thread(target=call) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    assert len(server.hits) == 2


def test_jwks__server_down_keeps_last_good_keys(
    server: RecordingServer,
    clock: FakeClock,
    verifier: TokenVerifier,
    rsa_key: rsa.RSAPrivateKey,
    ec_key: ec.EllipticCurvePrivateKey,
) -> None:
    _publish(server, (rsa_key, "k1"))
    verifier.verify(_token(rsa_key, "k1"))
    server.stop()
    clock.advance(CACHE + COOLDOWN)

    assert isinstance(verifier.verify(_token(rsa_key, "k1")), Principal)
    clock.advance(COOLDOWN)
    with pytest.raises(Unauthorized):
        verifier.verify(_token(ec_key, "k2"))
    assert isinstance(verifier.verify(_token(rsa_key, "k1")), Principal)


def test_jwks__never_reachable_is_unauthorized(
    server: RecordingServer, verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    server.stop()
    with pytest.raises(Unauthorized):
        verifier.verify(_token(rsa_key, "k1"))


def test_jwks__slow_server_times_out(
    server: RecordingServer, clock: FakeClock, rsa_key: rsa.RSAPrivateKey
) -> None:
    _publish(server, (rsa_key, "k1"))
    server.delay_seconds = 1.5
    source = JwksKeySource(server.url(PATH), CACHE, COOLDOWN, 0.2, clock=clock)
    started = time.monotonic()
    with pytest.raises(Unauthorized):
        source.key_for("k1")
    assert time.monotonic() - started < 1.0


def test_jwks__token_without_kid_never_fetches(
    server: RecordingServer, verifier: TokenVerifier, rsa_key: rsa.RSAPrivateKey
) -> None:
    _publish(server, (rsa_key, "k1"))
    with pytest.raises(Unauthorized):
        verifier.verify(_token(rsa_key, None))
    assert server.hits == []


def _jwk(key: SigningKey, kid: str, **extra: Any) -> dict[str, Any]:
    return {**public_jwk(key.public_key(), kid), **extra}


def _doc(*entries: dict[str, Any], **extra: Any) -> bytes:
    return json.dumps({"keys": list(entries), **extra}).encode()


def _ec(crv: str, x: bytes, y: bytes) -> dict[str, Any]:
    return {"kty": "EC", "crv": crv, "kid": "k1", "x": b64url(x), "y": b64url(y)}


def _redirect(server: RecordingServer, key: SigningKey) -> None:
    server.serve("/moved.json", _doc(_jwk(key, "k1")))
    server.serve(PATH, b"", 302, Location=server.url("/moved.json"))


UNUSABLE: list[tuple[str, Callable[[RecordingServer, SigningKey], None]]] = [
    ("http-500", lambda s, k: s.serve(PATH, _doc(_jwk(k, "k1")), 500)),
    ("not-json", lambda s, k: s.serve(PATH, b"<html>hello</html>")),
    ("json-array", lambda s, k: s.serve(PATH, b"[]")),
    ("keys-not-list", lambda s, k: s.serve(PATH, b'{"keys": {}}')),
    ("empty-keys", lambda s, k: s.serve(PATH, _doc())),
    ("oct-key", lambda s, k: s.serve(PATH, _doc({"kty": "oct", "kid": "k1", "k": "c2VjcmV0"}))),
    ("use-enc", lambda s, k: s.serve(PATH, _doc(_jwk(k, "k1", use="enc")))),
    ("key-ops-sign-only", lambda s, k: s.serve(PATH, _doc(_jwk(k, "k1", key_ops=["sign"])))),
    ("alg-mismatch", lambda s, k: s.serve(PATH, _doc(_jwk(k, "k1", alg="ES256")))),
    ("bad-modulus", lambda s, k: s.serve(PATH, _doc(_jwk(k, "k1", n="!!")))),
    ("ec-p384", lambda s, k: s.serve(PATH, _doc(_ec("P-384", b"\x01" * 48, b"\x02" * 48)))),
    ("ec-off-curve", lambda s, k: s.serve(PATH, _doc(_ec("P-256", b"\x01" * 32, b"\x02" * 32)))),
    ("unsafe-kid", lambda s, k: s.serve(PATH, _doc(_jwk(k, "' OR 1=1")))),
    ("duplicate-kid", lambda s, k: s.serve(PATH, _doc(_jwk(k, "k1"), _jwk(k, "k1")))),
    ("oversized", lambda s, k: s.serve(PATH, _doc(_jwk(k, "k1"), pad="x" * 300_000))),
    ("deeply-nested", lambda s, k: s.serve(PATH, b"[" * 100_000)),
    ("redirect", lambda s, k: _redirect(s, k)),
]


@pytest.mark.parametrize("publish", [p for _, p in UNUSABLE], ids=[i for i, _ in UNUSABLE])
def test_jwks__unusable_document_is_unauthorized_then_recovers(
    server: RecordingServer,
    clock: FakeClock,
    verifier: TokenVerifier,
    rsa_key: rsa.RSAPrivateKey,
    publish: Callable[[RecordingServer, SigningKey], None],
) -> None:
    publish(server, rsa_key)
    token = _token(rsa_key, "k1")
    with pytest.raises(Unauthorized):
        verifier.verify(token)
    assert server.hits == [PATH]

    _publish(server, (rsa_key, "k1"))
    clock.advance(COOLDOWN)
    assert isinstance(verifier.verify(token), Principal)
