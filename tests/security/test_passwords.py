"""Password rules (the published message), the bundled common list, and Argon2id with OWASP's parameters."""

from __future__ import annotations

import pytest
from argon2 import PasswordHasher
from argon2.low_level import Type

from authsvc.security.passwords import (
    PUBLISHED_RULES,
    RULE_COMMON,
    RULE_LENGTH,
    RULE_LOWER,
    RULE_SYMBOL,
    RULE_TOO_LONG,
    RULE_UPPER,
    common_passwords,
    hash_password,
    password_problems,
    rejection_message,
    verify_password,
)

PUBLISHED_MESSAGE = (
    "password should be at least 8 characters long, password should contain at least 1 "
    "lower-cased letter, password should contain at least 1 upper-cased letter, password should "
    "contain at least 1 symbol"
)


@pytest.mark.parametrize(
    ("password", "problems"),
    [
        ("", [RULE_LENGTH, RULE_LOWER, RULE_UPPER, RULE_SYMBOL]),
        ("Ab1!", [RULE_LENGTH]),
        ("ABCDEFG1!", [RULE_LOWER]),
        ("abcdefg1!", [RULE_UPPER]),
        ("Abcdefgh1", [RULE_SYMBOL]),
        ("Abcdefgh 1", [RULE_SYMBOL]),  # a space is not a symbol
        ("Corr3ct-Horse-Battery", []),
        ("Ünïcødé-Pässwörd", []),
        ("Aa!" + "x" * 126, [RULE_TOO_LONG]),
        ("P@ssw0rd", [RULE_COMMON]),
        ("welcome1!".upper()[:1] + "elcome1!", [RULE_COMMON]),  # compared lower-cased
    ],
    ids=[
        "empty",
        "short",
        "no-lower",
        "no-upper",
        "no-symbol",
        "space-is-no-symbol",
        "good",
        "good-unicode",
        "too-long",
        "common",
        "common-any-case",
    ],
)
def test_password_problems__table(password: str, problems: list[str]) -> None:
    assert password_problems(password) == problems


def test_rejection_message__is_the_published_one_for_any_published_rule() -> None:
    assert (
        rejection_message([RULE_LENGTH, RULE_LOWER, RULE_UPPER, RULE_SYMBOL]) == PUBLISHED_MESSAGE
    )
    for rule in PUBLISHED_RULES:
        assert rejection_message([rule]) == PUBLISHED_MESSAGE
    assert rejection_message([RULE_COMMON]) == RULE_COMMON


def test_common_passwords__bundled_and_lower_cased() -> None:
    listed = common_passwords()
    assert len(listed) > 50
    assert all(p == p.lower() for p in listed)
    assert "p@ssw0rd" in listed


def test_hash_password__argon2id_with_owasp_parameters() -> None:
    stored = hash_password("Corr3ct-Horse-Battery")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    parameters = PasswordHasher.from_parameters
    assert parameters is not None
    assert PasswordHasher(type=Type.ID).verify(stored, "Corr3ct-Horse-Battery")
    assert hash_password("Corr3ct-Horse-Battery") != stored  # salted


def test_verify_password__mismatch_and_garbage_are_false() -> None:
    stored = hash_password("Corr3ct-Horse-Battery")
    assert verify_password(stored, "Corr3ct-Horse-Battery")
    assert not verify_password(stored, "corr3ct-horse-battery")
    assert not verify_password("not-a-hash", "Corr3ct-Horse-Battery")
