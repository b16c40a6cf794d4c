"""Long-lived API tokens: `nsx_pat_<id>_<secret>`, sent as `Authorization: Bearer ...` like a user's JWT.

- personal: acts for the user who made it, with at most that user's role (a demotion or a disabled account
  applies at once; a deleted account takes its tokens with it, even if its name is given to someone else);
- service: made by an admin for a machine (a Prometheus, a SIEM collector, a script), with a role of its own,
  acting under the name "service:<name>" in the audit log.

The secret is 256 random bits, shown once; only its SHA-256 is stored (a slow hash protects guessable
passwords; against 256 random bits it adds nothing). Every token expires (at most two years) and can be
revoked; its last use (time and address) is kept, updated at most once a minute.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from typing import Literal

import msgspec

from appliance.auth.users import ROLE_RANK
from appliance.store.database import Store

PREFIX = "nsx_pat_"
ID_LENGTH = 12
TOKEN_PATTERN = re.compile(rf"^{PREFIX}([0-9a-f]{{{ID_LENGTH}}})_([A-Za-z0-9_-]{{43}})$")
LAST_USED_RESOLUTION = 60.0
DAY = 86_400
SERVICE_PREFIX = "service:"

Kind = Literal["personal", "service"]


class InvalidApiToken(Exception):
    pass


class ApiToken(msgspec.Struct, kw_only=True):
    id: str
    name: str
    kind: str
    role: str
    username: str | None  # the owner of a personal token
    created_by: str
    created_at: float
    expires_at: float
    last_used_at: float | None
    last_used_from: str | None
    revoked_at: float | None
    revoked_by: str | None
    active: bool


class Identity(msgspec.Struct, frozen=True):
    """Who a verified token speaks for."""

    token_id: str
    name: str  # the owner's user name, or "service:<token name>"
    role: str
    kind: Kind
    expires_at: int


def is_api_token(bearer: str) -> bool:
    return bearer.startswith(PREFIX)


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _token(row: dict, now: float) -> ApiToken:
    return ApiToken(
        id=row["id"], name=row["name"], kind=row["kind"], role=row["role"], username=row["username"],
        created_by=row["created_by"], created_at=row["created_at"], expires_at=row["expires_at"],
        last_used_at=row["last_used_at"], last_used_from=row["last_used_from"], revoked_at=row["revoked_at"],
        revoked_by=row["revoked_by"], active=row["revoked_at"] is None and row["expires_at"] > now,
    )


def issue(
    store: Store,
    *,
    name: str,
    kind: Kind,
    role: str,
    owner: dict | None,
    lifetime_days: int,
    created_by: str,
    now: float | None = None,
) -> tuple[ApiToken, str]:
    """Store a new token; returns it and its plaintext (which exists nowhere else from now on)."""
    now = time.time() if now is None else now
    token_id = secrets.token_hex(ID_LENGTH // 2)
    secret = base64.urlsafe_b64encode(secrets.token_bytes(32)).decode().rstrip("=")
    store.execute(
        "INSERT INTO api_tokens (id, name, kind, role, user_id, username, secret_sha256, created_by, created_at, "
        "expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (token_id, name, kind, role, owner["id"] if owner else None, owner["username"] if owner else None,
         _digest(secret), created_by, now, now + lifetime_days * DAY),
    )
    return get(store, token_id, now), f"{PREFIX}{token_id}_{secret}"


def get(store: Store, token_id: str, now: float | None = None) -> ApiToken | None:
    row = store.query_one("SELECT * FROM api_tokens WHERE id = ?", (token_id,))
    return None if row is None else _token(row, time.time() if now is None else now)


def list_tokens(store: Store, username: str | None, now: float | None = None) -> list[ApiToken]:
    """Every token (username None: an admin's view), or the personal tokens of one user."""
    where, parameters = ("", ()) if username is None else ("WHERE username = ?", (username,))
    rows = store.query(f"SELECT * FROM api_tokens {where} ORDER BY created_at DESC, id", parameters)
    return [_token(row, time.time() if now is None else now) for row in rows]


def revoke(store: Store, token_id: str, by: str, now: float | None = None) -> ApiToken | None:
    now = time.time() if now is None else now
    store.execute("UPDATE api_tokens SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL",
                  (now, by, token_id))
    return get(store, token_id, now)


def verify(store: Store, bearer: str, source: str | None = None, now: float | None = None) -> Identity:
    """The identity behind `bearer`, or InvalidApiToken saying why not (never which part was wrong)."""
    now = time.time() if now is None else now
    match = TOKEN_PATTERN.match(bearer)
    row = store.query_one("SELECT * FROM api_tokens WHERE id = ?", (match.group(1),)) if match else None
    if row is None or not hmac.compare_digest(row["secret_sha256"], _digest(match.group(2))):
        raise InvalidApiToken("unknown API token")
    if row["revoked_at"] is not None:
        raise InvalidApiToken("this API token has been revoked")
    if row["expires_at"] <= now:
        raise InvalidApiToken("this API token has expired")
    role, name = row["role"], SERVICE_PREFIX + row["name"]
    if row["kind"] == "personal":
        owner = store.query_one("SELECT role, disabled FROM users WHERE id = ? AND username = ?",
                                (row["user_id"], row["username"]))
        if owner is None or owner["disabled"]:
            raise InvalidApiToken("the account this API token belongs to no longer exists or is disabled")
        role = min(role, owner["role"], key=ROLE_RANK.__getitem__)
        name = row["username"]
    if source is not None and (row["last_used_at"] or 0) < now - LAST_USED_RESOLUTION:
        store.execute("UPDATE api_tokens SET last_used_at = ?, last_used_from = ? WHERE id = ?",
                      (now, source, row["id"]))
    return Identity(token_id=row["id"], name=name, role=role, kind=row["kind"], expires_at=int(row["expires_at"]))
