"""Password hashing with scrypt; the parameters travel with each hash so they can be raised later."""

from __future__ import annotations

import hmac
import secrets

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

N, R, P = 2**14, 8, 1
MIN_LENGTH = 10


class WeakPassword(ValueError):
    pass


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise WeakPassword(f"the password must be at least {MIN_LENGTH} characters long")


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
