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


class Claims(msgspec.Struct, frozen=True):
    sub: str
    role: str  # admin, analyst, viewer, or "agent"
    typ: str  # "user" or "agent"
    jti: str
    exp: int
    iat: int


def issue(
    secret: str, subject: str, role: str, kind: str, lifetime: int, now: float | None = None
) -> tuple[str, Claims]:
    issued = int(time.time() if now is None else now)
    claims = Claims(sub=subject, role=role, typ=kind, jti=secrets.token_hex(16), exp=issued + lifetime, iat=issued)
    payload = msgspec.structs.asdict(claims) | {"iss": ISSUER}
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
