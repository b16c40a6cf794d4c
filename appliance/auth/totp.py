"""RFC 6238 one-time codes (the authenticator-app second factor)."""

from __future__ import annotations

import base64
import secrets
import time
from urllib.parse import quote

from cryptography.hazmat.primitives.hashes import SHA1
from cryptography.hazmat.primitives.twofactor import InvalidToken
from cryptography.hazmat.primitives.twofactor.totp import TOTP

DIGITS = 6
STEP = 30
ISSUER = "NetSenX Appliance"


def new_secret() -> str:
    return base64.b32encode(secrets.token_bytes(20)).decode().rstrip("=")


def _totp(secret: str) -> TOTP:
    padded = secret + "=" * (-len(secret) % 8)
    return TOTP(base64.b32decode(padded), DIGITS, SHA1(), STEP, enforce_key_length=False)


def code_at(secret: str, when: float) -> str:
    return _totp(secret).generate(int(when)).decode()


def matching_step(secret: str, code: str, now: float | None = None) -> int | None:
    """The time step whose code `code` is: the current one or either neighbour (clock drift of one step).

    The caller accepts a code only for a step later than the last one it accepted (`users.consume_totp_step`),
    so each code works once."""
    if not code or not code.isdigit() or len(code) != DIGITS:
        return None
    now = time.time() if now is None else now
    totp = _totp(secret)
    for drift in (0, -STEP, STEP):
        moment = int(now + drift)
        try:
            totp.verify(code.encode(), moment)
        except InvalidToken:
            continue
        return moment // STEP
    return None


def provisioning_uri(secret: str, username: str) -> str:
    return (
        f"otpauth://totp/{quote(ISSUER)}:{quote(username)}?secret={secret}"
        f"&issuer={quote(ISSUER)}&digits={DIGITS}&period={STEP}"
    )
