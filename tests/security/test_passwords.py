"""Password rules (the published message), the bundled common list, and Argon2id with OWASP's parameters."""

from __future__ import annotations

import unicodedata

import pytest
from argon2 import PasswordHasher
from argon2.low_level import Type
from hypothesis import example, given, settings
from hypothesis import strategies as st

from authsvc.security.passwords import (
    MAX_LENGTH,
    MIN_LENGTH,
    PUBLISHED_RULES,
    RULE_CHARACTERS,
    RULE_COMMON,
    RULE_LENGTH,
    RULE_LOWER,
    RULE_SYMBOL,
    RULE_TOO_LONG,
    RULE_UPPER,
    PasswordCheck,
    check_password,
    common_passwords,
    grapheme_length,
    hash_password,
    normalize_password,
    password_hasher,
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


def fullwidth(text: str) -> str:
    """`text` typed on a fullwidth (East Asian) keyboard: NFKC turns it back into ASCII."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


# Issue 18, item 5: each of these passed the rules before normalisation (invisible characters
# counted toward the length and as symbols).
INVISIBLE = [
    "Aa" + "\u0301" * 6,  # combining acute accents: one grapheme with the `a`
    "Aa" + "\u200b" * 6,  # zero-width spaces (Cf)
    "Aa" + "\x00" * 6,  # NUL (Cc)
    "Aa" + "\x01" * 6,  # SOH (Cc)
    "Aa!" + "\u202e" * 5,  # right-to-left overrides (Cf)
]


@pytest.mark.parametrize(
    "password", INVISIBLE, ids=["combining", "zero-width", "nul", "control", "rlo"]
)
def test_password_problems__invisible_characters_are_refused(password: str) -> None:
    assert password_problems(password)


@pytest.mark.parametrize(
    ("password", "problems"),
    [
        ("Aa" + "\u0301" * 6, [RULE_LENGTH, RULE_SYMBOL]),
        ("Abcdefg" + "\u200b", [RULE_SYMBOL, RULE_CHARACTERS]),
        ("Corr3ct-Horse\u2060Battery", [RULE_CHARACTERS]),  # format (Cf): word joiner
        ("Corr3ct-Horse-\U0001f468\u200d\U0001f469\u200d\U0001f467", []),  # ZWJ: a family
        ("Corr3ct-\u0645\u06cc\u200c\u0631\u0648\u0645", []),  # ZWNJ in Persian
        ("Aa!" + "\u200d" * 6, [RULE_LENGTH]),  # joiners attach: 3 characters, not 9
        ("Corr3ct-Horse\tBattery", [RULE_CHARACTERS]),  # control (Cc)
        ("Corr3ct-Horse\ue000Battery", [RULE_CHARACTERS]),  # private use (Co)
        ("Corr3ct-Horse\ud800Battery", [RULE_CHARACTERS]),  # lone surrogate (Cs)
        ("Corr3ct-Horse" + "é" * 116, [RULE_TOO_LONG]),  # 129 graphemes
        ("Corr3ct-Horse" + "e\u0301" * 115, []),  # 128 graphemes, 243 code points
        ("Corr3ct-Horse" + "e\u0301" * 116, [RULE_TOO_LONG]),
        ("Abcdefg€", []),  # a currency sign is a symbol (Sc)
        ("Abcdefg¿", []),  # so is any Unicode punctuation (Po)
        ("Abcdefg\u0301h", [RULE_SYMBOL]),  # a combining mark is not
        (fullwidth("P@ssw0rd"), [RULE_COMMON]),  # fullwidth: NFKC makes it the listed P@ssw0rd
        (fullwidth("Corr3ct-Horse"), []),
    ],
    ids=[
        "combining-is-one-character",
        "zero-width-refused",
        "format",
        "zwj-emoji-sequence",
        "zwnj-persian",
        "joiners-add-no-length",
        "control",
        "private-use",
        "surrogate",
        "precomposed-129-too-long",
        "decomposed-128-is-fine",
        "decomposed-129-too-long",
        "currency-symbol",
        "punctuation",
        "mark-is-no-symbol",
        "fullwidth-common",
        "fullwidth-good",
    ],
)
def test_password_problems__unicode_table(password: str, problems: list[str]) -> None:
    assert password_problems(password) == problems


FORMS = ("NFC", "NFD", "NFKC", "NFKD")
REFUSED_CATEGORIES = {"Cc", "Cf", "Co", "Cs"}
ALLOWED_JOINERS = {"\u200c", "\u200d"}
# Characters the running Python knows (Cn: unassigned), so that the oracle below, which reads
# `unicodedata`, and the rules, which read the `regex` package's newer tables, agree.
ASSIGNED = st.characters(exclude_categories=("Cn",))


@given(st.text(ASSIGNED, max_size=40))
@example(fullwidth("P@ssw0rd"))  # refused (common) in every form
@example("Corr3ct-Horse-Battery")  # accepted in every form
@example("Cafe\u0301-Horse-1")  # accepted, decomposed and composed alike
@example("Aa" + "\u0301" * 6)  # refused (length) in every form
def test_password_problems__the_same_in_every_normalization_form(password: str) -> None:
    expected = password_problems(password)
    for form in FORMS:
        assert password_problems(unicodedata.normalize(form, password)) == expected, form


@given(st.text(ASSIGNED, max_size=40))
@example("Corr3ct-Horse-Battery")  # none present: not refused for its characters
@example("Corr3ct\x7f-Horse")  # Cc
@example("Corr3ct\u2060-Horse")  # Cf (word joiner)
@example("Corr3ct\u200d-Horse")  # Cf, but a joiner: allowed
@example("Corr3ct\U000f0000-Horse")  # Co (plane 15 private use)
@example("Corr3ct\udfff-Horse")  # Cs
def test_password_problems__refuses_characters_exactly_when_one_is_invisible(
    password: str,
) -> None:
    present = any(
        unicodedata.category(c) in REFUSED_CATEGORIES and c not in ALLOWED_JOINERS
        for c in normalize_password(password)
    )
    assert (RULE_CHARACTERS in password_problems(password)) == present


@given(st.text(ASSIGNED, max_size=40))
@example("Corr3ct-Horse-Battery")  # accepted
@example("Aa!" + "\u0301" * 6)  # refused: 3 characters as a reader counts them
@example("Aa\u00a0\u00a0\u00a0\u00a0\u00a0\u00a0")  # refused: no-break spaces are no symbol
def test_password_problems__an_accepted_password_meets_every_rule_as_a_reader_sees_it(
    password: str,
) -> None:
    if password_problems(password):
        return
    normalized = normalize_password(password)
    assert MIN_LENGTH <= grapheme_length(normalized) <= MAX_LENGTH
    assert any(c.islower() for c in normalized)
    assert any(c.isupper() for c in normalized)
    assert any(unicodedata.category(c)[0] in "PS" for c in normalized)
    assert not any(unicodedata.category(c) in REFUSED_CATEGORIES for c in normalized)


GOOD = st.builds(
    lambda body, tail: "Aa!" + body + tail,
    st.text(ASSIGNED, min_size=5, max_size=12),
    st.sampled_from(["", "\u0301", "\ufb01", fullwidth("X")]),
).filter(lambda password: not password_problems(password))


@settings(max_examples=10, deadline=None)  # each example computes a few Argon2id hashes
@given(GOOD)
@example("Cafe\u0301-Horse-1")
@example(fullwidth("Corr3ct-Horse"))
def test_check_password__any_normalization_form_of_the_password_matches(password: str) -> None:
    stored = hash_password(password)
    for form in FORMS:
        typed = unicodedata.normalize(form, password)
        assert check_password(stored, typed) == PasswordCheck(True, needs_rehash=False), form
    assert check_password(stored, password + "x") == PasswordCheck(False)


@settings(max_examples=10, deadline=None)
# No surrogates: the code before normalisation could not hash one either (UnicodeEncodeError),
# so no stored hash is over one.
@given(st.text(st.characters(exclude_categories=("Cn", "Cs")), min_size=1, max_size=20))
@example(fullwidth("Corr3ct-Horse"))  # stored as typed before normalisation: rehash
@example("Cafe\u0301-Horse-1")  # likewise (NFKC composes the accent)
@example("Corr3ct-Horse-Battery")  # already NFKC: the stored hash is today's, no rehash
def test_check_password__a_hash_stored_before_normalisation_still_matches_and_asks_for_a_rehash(
    password: str,
) -> None:
    legacy = password_hasher().hash(password)  # what hash_password stored before this change
    raw_only = normalize_password(password) != password
    assert check_password(legacy, password) == PasswordCheck(True, needs_rehash=raw_only)
    if raw_only:
        rehashed = hash_password(password)
        assert check_password(rehashed, password) == PasswordCheck(True, needs_rehash=False)


def test_check_password__outdated_parameters_ask_for_a_rehash() -> None:
    older = PasswordHasher(time_cost=1, memory_cost=8 * 1024, type=Type.ID).hash("Corr3ct-Horse")
    assert check_password(older, "Corr3ct-Horse") == PasswordCheck(True, needs_rehash=True)
    assert check_password(older, "Corr3ct-Horsf") == PasswordCheck(False)
