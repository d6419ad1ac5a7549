"""Passwords: the published rules, a small common-password list, and Argon2id hashes.

The rules and their wording are the accept page's 400 message. A password that breaks any of them
gets that message whole, as published: it states the requirements, which is what a form shows. Hashes use argon2-cffi with OWASP's Password
Storage Cheat Sheet parameters for Argon2id (m = 19 MiB, t = 2, p = 1).
"""

from __future__ import annotations

import functools
from importlib import resources

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
RULE_COMMON = "password is too common"

OWASP_MEMORY_KIB = 19 * 1024
OWASP_TIME_COST = 2
OWASP_PARALLELISM = 1


PUBLISHED_RULES = (RULE_LENGTH, RULE_LOWER, RULE_UPPER, RULE_SYMBOL)


def rejection_message(problems: list[str]) -> str:
    """The 400 message for a refused password: the published one if any published rule is broken."""
    if any(problem in PUBLISHED_RULES for problem in problems):
        return ", ".join(PUBLISHED_RULES)
    return ", ".join(problems)


def password_problems(password: str) -> list[str]:
    """The published rules `password` breaks, in the published order (empty: acceptable)."""
    problems = []
    if len(password) < MIN_LENGTH:
        problems.append(RULE_LENGTH)
    if not any(c.islower() for c in password):
        problems.append(RULE_LOWER)
    if not any(c.isupper() for c in password):
        problems.append(RULE_UPPER)
    if not any(not c.isalnum() and not c.isspace() for c in password):
        problems.append(RULE_SYMBOL)
    if len(password) > MAX_LENGTH:
        problems.append(RULE_TOO_LONG)
    if not problems and password.lower() in common_passwords():
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
    """An Argon2id PHC string (`$argon2id$v=19$m=19456,t=2,p=1$...`); CPU-bound: never on the loop."""
    return password_hasher().hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """True when `password` matches `stored_hash`; False for a mismatch or a malformed hash."""
    try:
        return password_hasher().verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False
