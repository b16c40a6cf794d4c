"""Password hashing with scrypt (the parameters travel with each hash so they can be raised later), and the
password policy of NIST SP 800-63B section 5.1.1.2: a minimum length, no composition rules, and a refusal of
passwords that are commonly used, leaked, repetitive or sequential, or built on the username."""

from __future__ import annotations

import functools
import hmac
import re
import secrets
import string
from importlib import resources

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

N, R, P = 2**14, 8, 1
MIN_LENGTH = 12
# Runs of neighbouring characters: the alphabet, the digits (wrapping: 7890123...) and the keyboard's rows.
RUNS = (
    "abcdefghijklmnopqrstuvwxyz",
    "0123456789",
    "qwertyuiopasdfghjklzxcvbnm",
    "1qaz2wsx3edc4rfv5tgb6yhn7ujm8ik9ol0p",
)
# Words of this box that an attacker tries first, like the username.
CONTEXT_WORDS = ("netsenx",)
AFFIXES = string.digits + string.punctuation


class WeakPassword(ValueError):
    pass


@functools.cache
def common_passwords() -> frozenset[str]:
    """The shipped list of common, leaked passwords (see the header of common_passwords.txt for its source)."""
    text = resources.files(__package__).joinpath("common_passwords.txt").read_text(encoding="utf-8")
    return frozenset(line for line in text.splitlines() if line and not line.startswith("#"))


def is_repetition(text: str) -> bool:
    """One character or one group of characters over and over: aaaa, abcabcabc, 12121212."""
    length = len(text)
    periods = (period for period in range(1, length // 2 + 1) if length % period == 0)
    return any(text == text[:period] * (length // period) for period in periods)


def is_run(text: str) -> bool:
    """Neighbouring characters only, either way: abcdef..., 098765..., qwertyuiop..."""
    for run in RUNS:
        cycled = run * (len(text) // len(run) + 2)
        if text in cycled or text in cycled[::-1]:
            return True
    return False


def check_strength(password: str, username: str | None = None) -> None:
    """Raise WeakPassword saying why `password` may not be used (by the account `username`)."""
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"the password must be at least {MIN_LENGTH} characters long")
    lowered = password.lower()
    compact = re.sub(r"\s+", "", lowered)
    if not compact:
        raise WeakPassword("the password must not be only spaces")
    # An attacker knows the username and the product's name: they add nothing to a password's length.
    remainder = lowered
    for word in (*CONTEXT_WORDS, (username or "").lower()):
        remainder = remainder.replace(word, "") if word else remainder
    if len(remainder) < MIN_LENGTH:
        raise WeakPassword(
            f"the password must have at least {MIN_LENGTH} characters besides the username and the product's name"
        )
    listed = common_passwords()
    if lowered in listed or compact in listed:
        raise WeakPassword("the password is in a list of 30,000 common, leaked passwords: choose another")
    if compact.strip(AFFIXES) in listed:
        raise WeakPassword("the password is a common, leaked password with digits, symbols or spaces added")
    if is_repetition(compact):
        raise WeakPassword("the password repeats one character or group of characters: choose another")
    if is_run(compact):
        raise WeakPassword("the password is a run of neighbouring characters (like abcdef or 123456): choose another")


def hash_password(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = Scrypt(salt=salt, length=32, n=N, r=R, p=P).derive(password.encode())
    return f"scrypt${N}${R}${P}${salt.hex()}${digest.hex()}"


def verify_password(password: str, encoded: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = encoded.split("$")
        if scheme != "scrypt":
            return False
        candidate = Scrypt(salt=bytes.fromhex(salt), length=32, n=int(n), r=int(r), p=int(p)).derive(password.encode())
    except ValueError:
        return False
    return hmac.compare_digest(candidate, bytes.fromhex(digest))


# Compared against when the user does not exist, so a login takes as long for unknown names.
DUMMY_HASH = hash_password(secrets.token_hex(16))
