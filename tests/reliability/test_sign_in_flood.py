"""A sign-in flood leaves the event loop free (issue 17): a live `authsvc serve`, on SQLite and on
PostgreSQL, answers other requests at once while 40 clients send sign-ins non-stop.

Every sign-in that passes the throttle costs an Argon2id verification (of a dummy hash for an
unknown e-mail), bounded like accept's hashes (`PASSWORD_HASHES_AT_ONCE`). The throttle's limits
are set out of the flood's reach here, so every attempt is verified: the worst case for the loop
(that the limits hold is tests/api/test_sign_in_throttle.py). The probe is the accept flood's.
"""

from __future__ import annotations

import secrets
from pathlib import Path

import httpx

from tests.reliability.support import API
from tests.reliability.test_accept_flood import (
    CLIENTS,
    PASSWORD,
    assert_loop_free,
    flood_and_probe,
)

SETTINGS = {
    "AUTHSVC_SIGN_IN_FREE_FAILURES": "1000000",
    "AUTHSVC_SIGN_IN_ADDRESS_LIMIT": "1000000",
}


async def random_sign_in(client: httpx.AsyncClient) -> httpx.Response:
    """A sign-in of an unknown e-mail: the throttle's writes, a verification, the audit write."""
    email = f"flood.{secrets.token_hex(8)}@example.com"
    return await client.post(f"{API}/customer/sign-in", json={"email": email, "password": PASSWORD})


def test_sign_in_flood__every_attempt_verified__other_requests_answer_at_once(
    tmp_path: Path, database_url: str
) -> None:
    answers, probed, quiet = flood_and_probe(tmp_path, database_url, SETTINGS, random_sign_in)
    assert_loop_free(answers, probed, quiet)
    assert set(answers) == {400}, dict(answers)  # the one sign-in refusal, each one verified
    assert answers[400] >= CLIENTS // 2, dict(answers)  # the flood kept the hashing busy
