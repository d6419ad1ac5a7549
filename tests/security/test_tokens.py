from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr

from authsvc.config import Settings
from authsvc.errors import Unauthorized
from authsvc.security.jwk import public_jwk, verification_key
from authsvc.security.keys import DevKeys, StaticKeySource, load_or_create_dev_keys
from authsvc.security.policy import may_resend_invite
from authsvc.security.principal import RESEND_INVITE_PERMISSION, Principal
from authsvc.security.tokens import TokenMinter, TokenVerifier, build_token_verifier, mint_token
from tests.support.keys import (
    AUDIENCE,
    DROP,
    ISSUER,
    RecordingServer,
    claims,
    hmac_signed,
    now,
    rsa_signed,
    segment,
    sign,
    unsigned,
)

SECRET = "hs256-shared-secret-" + "q" * 32


@dataclass
class Attack:
    """What an attacker has: our public key and kid, their own keys, a server of their own."""

    dev: DevKeys
    private: rsa.RSAPrivateKey
    attacker: rsa.RSAPrivateKey
    ec: ec.EllipticCurvePrivateKey
    server: RecordingServer

    def good(self, **overrides: Any) -> str:
        return sign(claims(**overrides), self.private, kid=self.dev.kid)


def _verifier(dev: DevKeys, algorithms: tuple[str, ...] = ("RS256", "ES256")) -> TokenVerifier:
    return TokenVerifier(
        dev.key_source(),
        algorithms=algorithms,
        issuer=ISSUER,
        audience=AUDIENCE,
        leeway_seconds=30,
        max_token_bytes=8192,
    )


@pytest.fixture
def attack(
    dev_keys: DevKeys, attacker_rsa_key: Any, ec_key: Any, server: RecordingServer
) -> Attack:
    private = serialization.load_pem_private_key(dev_keys.private_pem, password=None)
    assert isinstance(private, rsa.RSAPrivateKey)
    return Attack(dev_keys, private, attacker_rsa_key, ec_key, server)


def _strip_signature(token: str) -> str:
    return token.rsplit(".", 1)[0] + "."


def _swap_payload(token: str, payload: dict[str, Any]) -> str:
    header, _, signature = token.split(".")
    return f"{header}.{segment(payload)}.{signature}"


ATTACKS: list[tuple[str, Callable[[Attack], str]]] = [
    ("alg-none", lambda a: unsigned({"alg": "none", "typ": "JWT"}, claims())),
    ("alg-none-kid", lambda a: unsigned({"alg": "none", "kid": a.dev.kid}, claims(), "AAAA")),
    ("alg-None-case", lambda a: unsigned({"alg": "None", "kid": a.dev.kid}, claims(), "AAAA")),
    ("alg-missing", lambda a: unsigned({"kid": a.dev.kid}, claims(), "AAAA")),
    (
        "hs256-with-public-key-as-secret",
        lambda a: hmac_signed({"alg": "HS256", "kid": a.dev.kid}, claims(), a.dev.public_pem),
    ),
    ("rs512-not-allowed", lambda a: sign(claims(), a.private, "RS512", kid=a.dev.kid)),
    ("es256-against-rsa-key", lambda a: sign(claims(), a.ec, "ES256", kid=a.dev.kid)),
    ("stripped-signature", lambda a: _strip_signature(a.good())),
    ("tampered-payload", lambda a: _swap_payload(a.good(), claims(platform_admin=True))),
    ("signed-by-other-key", lambda a: sign(claims(), a.attacker, kid=a.dev.kid)),
    ("bad-base64", lambda a: "!!!." + a.good().split(".", 1)[1]),
    ("base64-but-not-json", lambda a: "abc.def.ghi"),
    ("padded-base64", lambda a: a.good().replace(".", "=.", 1)),
    ("garbage", lambda a: "not a token"),
    ("empty", lambda a: ""),
    ("two-segments", lambda a: a.good().rsplit(".", 1)[0]),
    ("four-segments", lambda a: a.good() + ".AAAA"),
    ("non-ascii", lambda a: a.good() + "é"),
    ("surrounding-space", lambda a: " " + a.good()),
    ("oversized", lambda a: a.good(padding="x" * 9000)),
    ("expired", lambda a: a.good(iat=now() - 3600, exp=now() - 120)),
    ("nbf-in-future", lambda a: a.good(nbf=now() + 600)),
    ("iat-in-future", lambda a: a.good(iat=now() + 600, exp=now() + 1200)),
    ("exp-not-a-number", lambda a: a.good(exp="tomorrow")),
    # RFC 7519: NumericDate is a JSON number; PyJWT would int() these strings and booleans.
    ("exp-numeric-string", lambda a: a.good(exp="99999999999")),
    ("iat-numeric-string", lambda a: a.good(iat=str(now()))),
    ("nbf-numeric-string", lambda a: a.good(nbf=str(now() - 60))),
    ("exp-boolean", lambda a: a.good(exp=True)),
    ("iat-boolean", lambda a: a.good(iat=True)),
    ("nbf-boolean", lambda a: a.good(nbf=False)),
    ("exp-float-string", lambda a: a.good(exp="99999999999.5")),
    ("wrong-iss", lambda a: a.good(iss="https://evil.test")),
    ("wrong-aud", lambda a: a.good(aud="someone-else")),
    ("missing-iss", lambda a: a.good(iss=DROP)),
    ("missing-aud", lambda a: a.good(aud=DROP)),
    ("missing-sub", lambda a: a.good(sub=DROP)),
    ("missing-exp", lambda a: a.good(exp=DROP)),
    ("missing-iat", lambda a: a.good(iat=DROP)),
    ("sub-not-uuid", lambda a: a.good(sub="alice")),
    ("customer-not-uuid", lambda a: a.good(customer_id="acme")),
    ("permissions-not-list", lambda a: a.good(permissions="users:resend-invite")),
    ("platform-admin-string", lambda a: a.good(platform_admin="true")),
    ("unknown-kid", lambda a: sign(claims(), a.private, kid="another-key")),
    ("kid-path-traversal", lambda a: sign(claims(), a.private, kid="../../../../dev/null")),
    ("kid-sql", lambda a: sign(claims(), a.private, kid="' OR 1=1 --")),
    ("kid-not-string", lambda a: rsa_signed({"alg": "RS256", "kid": 1}, claims(), a.private)),
    ("kid-too-long", lambda a: sign(claims(), a.private, kid="k" * 300)),
    (
        "jku-attacker-jwks",
        lambda a: sign(claims(), a.attacker, kid="evil", jku=a.server.url("/jwks.json")),
    ),
    (
        "x5u-attacker-cert",
        lambda a: sign(claims(), a.attacker, kid="evil", x5u=a.server.url("/cert.pem")),
    ),
    (
        "jwk-embedded",
        lambda a: sign(claims(), a.attacker, jwk=public_jwk(a.attacker.public_key(), "evil")),
    ),
    ("x5c-embedded", lambda a: sign(claims(), a.attacker, x5c=["MIIB"])),
    (
        "jku-with-valid-signature",
        lambda a: sign(claims(), a.private, kid=a.dev.kid, jku=a.server.url("/jwks.json")),
    ),
    ("crit-header", lambda a: sign(claims(), a.private, kid=a.dev.kid, crit=["exp"])),
]


@pytest.mark.parametrize("make_token", [m for _, m in ATTACKS], ids=[i for i, _ in ATTACKS])
def test_verify__attack_rejected(attack: Attack, make_token: Callable[[Attack], str]) -> None:
    attack.server.serve_json("/jwks.json", {"keys": [public_jwk(attack.attacker.public_key())]})
    token = make_token(attack)

    with pytest.raises(Unauthorized) as caught:
        _verifier(attack.dev).verify(token)

    assert caught.value.body() == {"message": "Unauthorized", "errorCode": "ERR_UNAUTHORIZED"}
    assert caught.value.__cause__ is None
    assert attack.server.hits == []


def test_verify__key_type_guards_algorithm_confusion_even_if_hs256_allowed(attack: Attack) -> None:
    # Settings never allow HS256 next to RS256; this proves the key binding holds on its own.
    token = hmac_signed({"alg": "HS256", "kid": attack.dev.kid}, claims(), attack.dev.public_pem)
    with pytest.raises(Unauthorized):
        _verifier(attack.dev, ("RS256", "HS256")).verify(token)


@pytest.mark.parametrize(
    "algorithms", [(), ("none",), ("RS256", "RS512")], ids=["empty", "none", "rs512"]
)
def test_token_verifier__refuses_unsupported_algorithms(
    dev_keys: DevKeys, algorithms: tuple[str, ...]
) -> None:
    with pytest.raises(ValueError, match="algorithms must be among"):
        _verifier(dev_keys, algorithms)


def test_verify__oversized_rejected_before_decoding(
    attack: Attack, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("decoded an oversized token")

    monkeypatch.setattr(jwt, "get_unverified_header", boom)
    with pytest.raises(Unauthorized):
        _verifier(attack.dev).verify("a" * 8193)


def _ec_verifier(key: ec.EllipticCurvePrivateKey) -> TokenVerifier:
    source = StaticKeySource(verification_key(key.public_key()))
    return TokenVerifier(source, algorithms=("RS256", "ES256"), issuer=ISSUER, audience=AUDIENCE)


ACCEPTED: list[tuple[str, Callable[[Attack], tuple[TokenVerifier, str]]]] = [
    ("rs256-with-kid", lambda a: (_verifier(a.dev), a.good())),
    ("rs256-without-kid", lambda a: (_verifier(a.dev), sign(claims(), a.private))),
    ("expired-within-leeway", lambda a: (_verifier(a.dev), a.good(exp=now() - 10))),
    ("nbf-within-leeway", lambda a: (_verifier(a.dev), a.good(nbf=now() + 10))),
    ("nbf-past", lambda a: (_verifier(a.dev), a.good(nbf=now() - 10))),
    ("aud-list", lambda a: (_verifier(a.dev), a.good(aud=["other", AUDIENCE]))),
    ("typ-at-jwt", lambda a: (_verifier(a.dev), sign(claims(), a.private, typ="at+jwt"))),
    ("es256-pem-key", lambda a: (_ec_verifier(a.ec), sign(claims(), a.ec, "ES256", kid="x"))),
]


@pytest.mark.parametrize("make_case", [m for _, m in ACCEPTED], ids=[i for i, _ in ACCEPTED])
def test_verify__valid_token_accepted(
    attack: Attack, make_case: Callable[[Attack], tuple[TokenVerifier, str]]
) -> None:
    verifier, token = make_case(attack)
    principal = verifier.verify(token)
    assert uuid.UUID(principal.subject)
    assert principal.permissions == {RESEND_INVITE_PERMISSION}


def test_verify__logs_reason_never_token(attack: Attack, caplog: pytest.LogCaptureFixture) -> None:
    tokens = [make(attack) for _, make in ATTACKS]
    with caplog.at_level(logging.DEBUG):
        for token in tokens:
            with pytest.raises(Unauthorized):
                _verifier(attack.dev).verify(token)
    assert "bearer token rejected" in caplog.text
    for token in tokens:
        for part in token.split("."):
            if len(part) > 8:
                assert part not in caplog.text
    assert "PRIVATE KEY" not in caplog.text


def test_bearer_info__connexion_shape(attack: Attack) -> None:
    payload = claims()
    info = _verifier(attack.dev).bearer_info(sign(payload, attack.private, kid=attack.dev.kid))
    assert info["sub"] == payload["sub"]
    assert isinstance(info["principal"], Principal)


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(
        data_dir=tmp_path / "data", jwt_issuer=ISSUER, jwt_audience=AUDIENCE, **overrides
    )


def test_build_token_verifier__dev_key_round_trip_with_mint_token(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    verifier = build_token_verifier(settings)
    dev = load_or_create_dev_keys(settings.data_dir)
    customer = uuid.uuid4()
    subject = uuid.uuid4()

    token = mint_token(
        dev,
        subject=subject,
        customer_id=customer,
        permissions=[RESEND_INVITE_PERMISSION, RESEND_INVITE_PERMISSION],
        issuer=ISSUER,
        audience=AUDIENCE,
        ttl_seconds=120,
    )

    assert jwt.get_unverified_header(token) == {"alg": "RS256", "typ": "JWT", "kid": dev.kid}
    principal = verifier.verify(token)
    assert principal == Principal(
        str(subject),
        customer,
        frozenset({RESEND_INVITE_PERMISSION}),
        False,
        issued_at=jwt.decode(token, options={"verify_signature": False})["iat"],
    )
    assert principal.session_id is None  # no session asked for: another issuer's kind of token
    payload = jwt.decode(token, options={"verify_signature": False})
    assert payload["exp"] - payload["iat"] == 120


def test_token_minter__platform_admin_without_customer(dev_keys: DevKeys) -> None:
    minter = TokenMinter(dev_keys, issuer=ISSUER, audience=AUDIENCE)
    token = minter.mint(subject=str(uuid.uuid4()), customer_id=None, platform_admin=True)
    principal = _verifier(dev_keys).verify(token)
    assert principal.platform_admin
    assert principal.customer_id is None
    assert "customer_id" not in jwt.decode(token, options={"verify_signature": False})


@pytest.mark.parametrize(
    ("subject", "ttl", "customer", "problem"),
    [
        ("alice", 60, None, "badly formed"),
        (str(uuid.uuid4()), 60, "acme", "badly formed"),
        (str(uuid.uuid4()), 0, None, "ttl_seconds"),
    ],
    ids=["subject-not-uuid", "customer-not-uuid", "no-ttl"],
)
def test_token_minter__refuses_tokens_the_verifier_would_reject(
    dev_keys: DevKeys, subject: str, ttl: int, customer: str | None, problem: str
) -> None:
    minter = TokenMinter(dev_keys, issuer=ISSUER, audience=AUDIENCE)
    with pytest.raises(ValueError, match=problem):
        minter.mint(subject=subject, customer_id=customer, ttl_seconds=ttl)


def test_build_token_verifier__pem_file_es256(tmp_path: Path, ec_key: Any) -> None:
    pem = ec_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    (tmp_path / "issuer.pem").write_bytes(pem)
    verifier = build_token_verifier(
        _settings(tmp_path, jwt_public_key_file=tmp_path / "issuer.pem")
    )

    assert verifier.verify(sign(claims(), ec_key, "ES256")).customer_id is not None
    assert not (tmp_path / "data").exists()


HS256_CASES: list[tuple[str, Callable[[Attack], str], bool]] = [
    ("hs256-right-secret", lambda a: sign(claims(), SECRET, "HS256"), True),
    ("hs256-wrong-secret", lambda a: sign(claims(), SECRET[::-1], "HS256"), False),
    ("rs256-in-hs256-mode", lambda a: a.good(), False),
    ("alg-none-in-hs256-mode", lambda a: unsigned({"alg": "none"}, claims()), False),
    ("hs256-expired", lambda a: sign(claims(exp=now() - 300), SECRET, "HS256"), False),
]


@pytest.mark.parametrize(
    ("make_token", "accepted"),
    [(m, ok) for _, m, ok in HS256_CASES],
    ids=[i for i, _, _ in HS256_CASES],
)
def test_build_token_verifier__hs256_mode(
    tmp_path: Path, attack: Attack, make_token: Callable[[Attack], str], accepted: bool
) -> None:
    verifier = build_token_verifier(_settings(tmp_path, jwt_hs256_secret=SecretStr(SECRET)))
    token = make_token(attack)
    if accepted:
        assert verifier.verify(token).permissions == {RESEND_INVITE_PERMISSION}
    else:
        with pytest.raises(Unauthorized):
            verifier.verify(token)


customers = st.sampled_from([uuid.UUID(int=n) for n in range(1, 4)])


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    token_customer=st.none() | customers,
    permissions=st.frozensets(st.sampled_from([RESEND_INVITE_PERMISSION, "users:read"])),
    platform_admin=st.booleans(),
    path_customer=customers,
)
def test_verify_then_policy__property(
    dev_keys: DevKeys,
    token_customer: uuid.UUID | None,
    permissions: frozenset[str],
    platform_admin: bool,
    path_customer: uuid.UUID,
) -> None:
    minter = TokenMinter(dev_keys, issuer=ISSUER, audience=AUDIENCE)
    token = minter.mint(
        subject=uuid.uuid4(),
        customer_id=token_customer,
        permissions=permissions,
        platform_admin=platform_admin,
    )
    principal = _verifier(dev_keys).verify(token)
    expected = platform_admin or (
        token_customer == path_customer and RESEND_INVITE_PERMISSION in permissions
    )
    assert may_resend_invite(principal, path_customer) is expected


@pytest.mark.parametrize(
    "times",
    # Each claim is computed from the clock when the test runs, never when the module is
    # collected: a slow suite must not turn a valid `exp` into an expired one.
    [
        lambda t: {"exp": t + 600.5},
        lambda t: {"iat": float(t)},
        lambda t: {"nbf": t - 60},
        lambda t: {"nbf": t - 60.25},
    ],
    ids=["exp-float", "iat-float", "nbf-int", "nbf-float"],
)
def test_verify__numeric_dates_as_json_numbers_accepted(
    attack: Attack, times: Callable[[int], dict[str, Any]]
) -> None:
    assert isinstance(_verifier(attack.dev).verify(attack.good(**times(now()))), Principal)


def test_verify__numeric_string_refused_even_after_a_good_token_was_remembered(
    attack: Attack,
) -> None:
    from authsvc.security.verified_tokens import VerifiedTokenCache

    verifier = TokenVerifier(
        attack.dev.key_source(),
        algorithms=("RS256",),
        issuer=ISSUER,
        audience=AUDIENCE,
        verified=VerifiedTokenCache(max_age_seconds=60),
    )
    verifier.verify(attack.good())
    with pytest.raises(Unauthorized):
        verifier.verify(attack.good(exp="99999999999"))
