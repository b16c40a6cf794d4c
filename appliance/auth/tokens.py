"""Short-lived signed bearer tokens (JWT, HS256) for users and for sensors ("agents")."""

from __future__ import annotations

import secrets
import time

import jwt
import msgspec

USER_TOKEN_SECONDS = 15 * 60
AGENT_TOKEN_SECONDS = 60 * 60
ISSUER = "netsenx-appliance"


class InvalidTokenError(Exception):
    pass


class Claims(msgspec.Struct, frozen=True, omit_defaults=True):
    sub: str
    role: str  # admin, analyst, viewer, or "agent"
    typ: str  # "user" or "agent"
    jti: str
    exp: int
    iat: int
    # User tokens only: the account's id and its token generation when the token was issued. Every request
    # checks both against the account, so a password, role or status change (or deletion) ends the token.
    uid: int | None = None
    gen: int | None = None


def issue(
    secret: str,
    subject: str,
    role: str,
    kind: str,
    lifetime: int,
    now: float | None = None,
    *,
    account: tuple[int, int] | None = None,
) -> tuple[str, Claims]:
    """A signed token. `account` is (user id, token generation) for user tokens."""
    issued = int(time.time() if now is None else now)
    uid, gen = account if account is not None else (None, None)
    claims = Claims(
        sub=subject, role=role, typ=kind, jti=secrets.token_hex(16), exp=issued + lifetime, iat=issued, uid=uid, gen=gen
    )
    payload = msgspec.to_builtins(claims) | {"iss": ISSUER}
    return jwt.encode(payload, secret, algorithm="HS256"), claims


def decode(secret: str, token: str) -> Claims:
    try:
        payload = jwt.decode(
            token, secret, algorithms=["HS256"], issuer=ISSUER, options={"require": ["exp", "iat", "sub", "jti"]}
        )
        payload.pop("iss", None)
        return msgspec.convert(payload, Claims)
    except (jwt.PyJWTError, msgspec.ValidationError) as error:
        raise InvalidTokenError(str(error)) from error
