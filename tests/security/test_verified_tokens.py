"""The verified-token cache: a reused token skips the signature check, and nothing else changes."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authsvc.errors import Unauthorized
from authsvc.security.keys import DevKeys
from authsvc.security.principal import Principal
from authsvc.security.tokens import TokenVerifier
from authsvc.security.verified_tokens import VerifiedTokenCache
from tests.support.keys import AUDIENCE, ISSUER, FakeClock, claims, now, sign


class RefusingKeys:
    """A key source that trusts nothing: any token that reaches it is refused."""

    def key_for(self, kid: str | None) -> Any:
        raise Unauthorized()


def _verifier(dev: DevKeys, cache: VerifiedTokenCache | None) -> TokenVerifier:
    return TokenVerifier(
        dev.key_source(), algorithms=("RS256",), issuer=ISSUER, audience=AUDIENCE, verified=cache
    )


def _token(dev: DevKeys, **overrides: Any) -> str:
    from authsvc.security.tokens import _private_key

    return sign(claims(**overrides), _private_key(dev.private_pem), kid=dev.kid)


def test_reused_token__not_verified_again_until_max_age(dev_keys: DevKeys) -> None:
    monotonic = FakeClock()
    verifier = _verifier(dev_keys, VerifiedTokenCache(max_age_seconds=60, monotonic=monotonic))
    token = _token(dev_keys)
    first = verifier.verify(token)

    verifier.keys = RefusingKeys()  # e.g. the key was removed from the JWKS
    assert verifier.verify(token) == first  # remembered: the signature is not checked again
    monotonic.advance(60)
    with pytest.raises(Unauthorized):  # past max age the token is checked afresh, and refused
        verifier.verify(token)


def test_cache_off__every_call_verifies(dev_keys: DevKeys) -> None:
    verifier = _verifier(dev_keys, VerifiedTokenCache(max_age_seconds=0))
    token = _token(dev_keys)
    verifier.verify(token)
    verifier.keys = RefusingKeys()
    with pytest.raises(Unauthorized):
        verifier.verify(token)


def test_remembered_token__refused_once_expired(dev_keys: DevKeys) -> None:
    clock = FakeClock()
    clock.now = float(now())
    verifier = _verifier(dev_keys, VerifiedTokenCache(max_age_seconds=3600, clock=clock))
    token = _token(dev_keys, exp=now() + 100)
    verifier.verify(token)

    verifier.keys = RefusingKeys()
    clock.advance(100 + 29)  # within the verifier's 30 s leeway: still good
    verifier.verify(token)
    clock.advance(2)  # past exp + leeway: the entry is gone and the token is checked in full
    with pytest.raises(Unauthorized):
        verifier.verify(token)


def test_cache__refuses_entries_before_not_before() -> None:
    clock = FakeClock()
    cache = VerifiedTokenCache(max_age_seconds=60, clock=clock)
    principal = Principal("s", None, frozenset(), False)
    digest = cache.digest("t")
    cache.put(digest, principal, expires_at=clock.now + 100, not_before=clock.now + 10)
    assert cache.get(digest) is None
    assert len(cache) == 0


def test_failures__never_remembered(dev_keys: DevKeys) -> None:
    cache = VerifiedTokenCache(max_age_seconds=60)
    verifier = _verifier(dev_keys, cache)
    for bad in (_token(dev_keys, iss="https://elsewhere.test"), "a.b.c", "x" * 10_000):
        for _ in range(2):
            with pytest.raises(Unauthorized):
                verifier.verify(bad)
    assert len(cache) == 0


def test_cache__holds_digests_never_tokens(dev_keys: DevKeys) -> None:
    cache = VerifiedTokenCache(max_age_seconds=60)
    token = _token(dev_keys)
    _verifier(dev_keys, cache).verify(token)
    (key,) = cache._entries
    assert len(key) == 32  # a SHA-256 digest
    assert key not in token.encode()


def test_cache__bounded_oldest_evicted_first() -> None:
    cache = VerifiedTokenCache(max_age_seconds=60, max_entries=2)
    principal = Principal("s", None, frozenset(), False)
    digests = [cache.digest(str(n)) for n in range(3)]
    for digest in digests:
        cache.put(digest, principal, expires_at=float("inf"), not_before=float("-inf"))
    assert len(cache) == 2
    assert cache.get(digests[0]) is None
    assert cache.get(digests[2]) is principal


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    overrides=st.fixed_dictionaries(
        {},
        optional={
            "iss": st.sampled_from([ISSUER, "https://elsewhere.test"]),
            "aud": st.sampled_from([AUDIENCE, "someone-else"]),
            "exp": st.integers(min_value=-10_000, max_value=10_000).map(lambda d: now() + d),
            "nbf": st.integers(min_value=-100, max_value=100).map(lambda d: now() + d),
            "sub": st.sampled_from(["not-a-uuid", "3fa85f64-5717-4562-b3fc-2c963f66afa6"]),
        },
    ),
    tamper=st.booleans(),
)
def test_cached_and_uncached_verifiers__same_verdicts(
    dev_keys: DevKeys, overrides: dict[str, Any], tamper: bool
) -> None:
    token = _token(dev_keys, **overrides)
    if tamper:
        token = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    plain = _verifier(dev_keys, None)
    cached = _verifier(dev_keys, VerifiedTokenCache(max_age_seconds=60))

    def verdict(verifier: TokenVerifier) -> Principal | None:
        try:
            return verifier.verify(token)
        except Unauthorized:
            return None

    expected = verdict(plain)
    assert [verdict(cached) for _ in range(3)] == [expected] * 3  # the first call, then hits
