"""Passwords: the published rules, a small common-password list, and Argon2id hashes.

The rules and their wording are the accept page's 400 message. A password that breaks any of them
gets that message whole, as published: it states the requirements, which is what a form shows.

What a rule sees is what the user typed, as they see it: the password is normalised to NFKC first
(the same letters typed on another keyboard, or decomposed by another input method, are the same
password), its length is counted in user-perceived characters (extended grapheme clusters: `é`
typed as `e` + a combining accent is one), a symbol is a Unicode punctuation or symbol character
(general categories P and S), and characters nobody can see or retype reliably are refused:
control, format, private-use and surrogate characters (Cc, Cf, Co, Cs). Without that, six zero-width
spaces or combining accents made a 2-letter password pass as 8 characters with a symbol. The two
joiners of category Cf are the exception (ZWJ U+200D, ZWNJ U+200C): emoji sequences (a family, a
flag with a sign) and Persian or Indic text need them, input methods type them, and they always
attach to the character before them (UAX #29, GB9), so they never add to the length.

Hashes use argon2-cffi with OWASP's Password Storage Cheat Sheet parameters for Argon2id
(m = 19 MiB, t = 2, p = 1), over the NFKC form. A hash stored before normalisation was over the
password as typed: `check_password` tries the normalised form, then the raw one, and says when the
stored hash should be replaced (`needs_rehash`), which sign-in does on success.

Unicode data comes from the `regex` package (`\\X` for grapheme clusters, `\\p{..}` for categories)
for both segmentation and categories, so the two always agree on one Unicode version.
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass
from importlib import resources

import regex
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from argon2.low_level import Type

MIN_LENGTH = 8
# Argon2 takes any length, but hashing megabytes per request is a denial of service.
MAX_LENGTH = 128

RULE_LENGTH = f"password should be at least {MIN_LENGTH} characters long"
RULE_LOWER = "password should contain at least 1 lower-cased letter"
RULE_UPPER = "password should contain at least 1 upper-cased letter"
RULE_SYMBOL = "password should contain at least 1 symbol"
RULE_TOO_LONG = f"password should be at most {MAX_LENGTH} characters long"
RULE_CHARACTERS = (
    "password should not contain control, invisible formatting or private-use characters"
)
RULE_COMMON = "password is too common"

OWASP_MEMORY_KIB = 19 * 1024
OWASP_TIME_COST = 2
OWASP_PARALLELISM = 1

PUBLISHED_RULES = (RULE_LENGTH, RULE_LOWER, RULE_UPPER, RULE_SYMBOL)

_GRAPHEME = regex.compile(r"\X")
_SYMBOL = regex.compile(r"[\p{P}\p{S}]")
# Lone surrogates (Cs) reach us from JSON escapes such as "\ud800"; they cannot even be encoded.
# The joiners (U+200C, U+200D) are typed text, not hidden formatting (the module docstring).
_REFUSED = regex.compile(r"(?![\u200c\u200d])[\p{Cc}\p{Cf}\p{Co}\p{Cs}]")


def normalize_password(password: str) -> str:
    """The form every rule checks and every new hash covers: Unicode NFKC."""
    return unicodedata.normalize("NFKC", password)


def grapheme_length(text: str) -> int:
    """User-perceived characters (extended grapheme clusters, UAX #29)."""
    return sum(1 for _ in _GRAPHEME.finditer(text))


def rejection_message(problems: list[str]) -> str:
    """The 400 message for a refused password: the published one if any published rule is broken."""
    if any(problem in PUBLISHED_RULES for problem in problems):
        return ", ".join(PUBLISHED_RULES)
    return ", ".join(problems)


def password_problems(password: str) -> list[str]:
    """The rules `password` breaks, the published ones first in their order (empty: acceptable)."""
    normalized = normalize_password(password)
    length = grapheme_length(normalized)
    problems = []
    if length < MIN_LENGTH:
        problems.append(RULE_LENGTH)
    if not any(c.islower() for c in normalized):
        problems.append(RULE_LOWER)
    if not any(c.isupper() for c in normalized):
        problems.append(RULE_UPPER)
    if _SYMBOL.search(normalized) is None:
        problems.append(RULE_SYMBOL)
    if length > MAX_LENGTH:
        problems.append(RULE_TOO_LONG)
    if _REFUSED.search(normalized) is not None:
        problems.append(RULE_CHARACTERS)
    if not problems and normalized.lower() in common_passwords():
        problems.append(RULE_COMMON)
    return problems


@functools.cache
def common_passwords() -> frozenset[str]:
    """The bundled list (package data), lower-cased; read once."""
    text = (resources.files("authsvc.security") / "common-passwords.txt").read_text(
        encoding="utf-8"
    )
    return frozenset(
        line.strip().lower() for line in text.splitlines() if line.strip() and line[0] != "#"
    )


@functools.cache
def password_hasher() -> PasswordHasher:
    return PasswordHasher(
        time_cost=OWASP_TIME_COST,
        memory_cost=OWASP_MEMORY_KIB,
        parallelism=OWASP_PARALLELISM,
        hash_len=32,
        salt_len=16,
        type=Type.ID,
    )


def hash_password(password: str) -> str:
    """An Argon2id PHC string of the NFKC form; CPU-bound by design: never on the event loop."""
    return password_hasher().hash(normalize_password(password))


@dataclass(frozen=True, slots=True)
class PasswordCheck:
    """The outcome of `check_password`: a match, and whether the stored hash should be replaced."""

    matches: bool
    needs_rehash: bool = False


def check_password(stored_hash: str, password: str) -> PasswordCheck:
    """Does `password` match? The NFKC form first, then (hashes stored before normalisation) as typed.

    `needs_rehash` on a match: the hash was over the raw form, or has parameters other than
    today's; the caller stores `hash_password(password)` in the same transaction. A password that
    is already NFKC costs one verification; another that does not match costs two, whoever the
    user is (the cost depends on the input alone, so it says nothing about the account).
    """
    normalized = normalize_password(password)
    if _verify(stored_hash, normalized):
        return PasswordCheck(True, _outdated(stored_hash))
    if normalized != password and _verify(stored_hash, password):
        return PasswordCheck(True, needs_rehash=True)
    return PasswordCheck(False)


def verify_password(stored_hash: str, password: str) -> bool:
    """True when `password` matches `stored_hash` (see `check_password`); False for garbage."""
    return check_password(stored_hash, password).matches


def _verify(stored_hash: str, candidate: str) -> bool:
    try:
        return password_hasher().verify(stored_hash, candidate)
    except (VerificationError, InvalidHashError, UnicodeEncodeError):
        # UnicodeEncodeError: a lone surrogate cannot be hashed, so it matches nothing.
        return False


def _outdated(stored_hash: str) -> bool:
    try:
        return password_hasher().check_needs_rehash(stored_hash)
    except InvalidHashError:
        return False
