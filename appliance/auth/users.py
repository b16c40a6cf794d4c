"""Local user accounts: creation, login checks with lockout, TOTP enrolment."""

from __future__ import annotations

import time

import msgspec

from appliance.auth import passwords, totp
from appliance.store.database import Store

ROLES = ("admin", "analyst", "viewer")
ROLE_RANK = {"viewer": 0, "analyst": 1, "admin": 2}
# Lockout: free attempts, then a back-off that doubles with each further failure, capped.
FREE_ATTEMPTS = 5
FIRST_LOCK_SECONDS = 30
MAX_LOCK_SECONDS = 3600


class User(msgspec.Struct, frozen=True):
    id: int
    username: str
    role: str
    totp_enabled: bool
    disabled: bool
    created_at: float


class LoginRejected(Exception):
    """Wrong name, password or code. The message never says which."""


class AccountLocked(Exception):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"account locked after repeated failed logins; retry in {retry_after} s")
        self.retry_after = retry_after


class UserError(ValueError):
    pass


def _user(row: dict) -> User:
    return User(
        id=row["id"],
        username=row["username"],
        role=row["role"],
        totp_enabled=bool(row["totp_enabled"]),
        disabled=bool(row["disabled"]),
        created_at=row["created_at"],
    )


def validate_username(username: str) -> None:
    if not (1 <= len(username) <= 64) or not all(c.isalnum() or c in "._-@" for c in username):
        raise UserError("username: 1-64 letters, digits or . _ - @")


def create_user(store: Store, username: str, password: str, role: str) -> User:
    validate_username(username)
    if role not in ROLES:
        raise UserError(f"role: must be one of {', '.join(ROLES)}")
    try:
        passwords.check_strength(password)
    except passwords.WeakPassword as error:
        raise UserError(f"password: {error}") from error
    with store.write_transaction():
        if store.query_one("SELECT 1 FROM users WHERE username = ?", (username,)):
            raise UserError(f"username: {username!r} already exists")
        store.execute(
            "INSERT INTO users (username, password_hash, role, created_at) VALUES (?, ?, ?, ?)",
            (username, passwords.hash_password(password), role, time.time()),
        )
    return get_user(store, username)


def get_user(store: Store, username: str) -> User | None:
    row = store.query_one("SELECT * FROM users WHERE username = ?", (username,))
    return None if row is None else _user(row)


def list_users(store: Store) -> list[User]:
    return [_user(row) for row in store.query("SELECT * FROM users ORDER BY username")]


def update_user(
    store: Store, username: str, *, role: str | None = None, disabled: bool | None = None, password: str | None = None
) -> User:
    if role is not None and role not in ROLES:
        raise UserError(f"role: must be one of {', '.join(ROLES)}")
    if password is not None:
        try:
            passwords.check_strength(password)
        except passwords.WeakPassword as error:
            raise UserError(f"password: {error}") from error
    with store.write_transaction():
        if get_user(store, username) is None:
            raise LookupError(username)
        if role is not None:
            store.execute("UPDATE users SET role = ? WHERE username = ?", (role, username))
        if disabled is not None:
            store.execute("UPDATE users SET disabled = ? WHERE username = ?", (int(disabled), username))
        if password is not None:
            store.execute(
                "UPDATE users SET password_hash = ?, failed_logins = 0, locked_until = 0 WHERE username = ?",
                (passwords.hash_password(password), username),
            )
        remaining_admins = store.query_one("SELECT count(*) AS n FROM users WHERE role = 'admin' AND disabled = 0")["n"]
        if remaining_admins == 0:
            raise UserError("at least one enabled admin must remain")
    return get_user(store, username)


def delete_user(store: Store, username: str) -> None:
    with store.write_transaction():
        if store.execute("DELETE FROM users WHERE username = ?", (username,)) == 0:
            raise LookupError(username)
        if store.query_one("SELECT count(*) AS n FROM users WHERE role = 'admin' AND disabled = 0")["n"] == 0:
            raise UserError("at least one enabled admin must remain")


def lock_seconds(failures: int) -> int:
    if failures < FREE_ATTEMPTS:
        return 0
    return min(MAX_LOCK_SECONDS, FIRST_LOCK_SECONDS * 2 ** (failures - FREE_ATTEMPTS))


def authenticate(store: Store, username: str, password: str, code: str | None, now: float | None = None) -> User:
    """Check a login. Raises LoginRejected or AccountLocked; records failures for the back-off."""
    now = time.time() if now is None else now
    row = store.query_one("SELECT * FROM users WHERE username = ?", (username,))
    if row is None:
        passwords.verify_password(password, passwords.DUMMY_HASH)
        raise LoginRejected("invalid username, password or one-time code")
    if row["locked_until"] > now:
        raise AccountLocked(int(row["locked_until"] - now) + 1)
    password_ok = passwords.verify_password(password, row["password_hash"])
    code_ok = not row["totp_enabled"] or (code is not None and totp.verify(row["totp_secret"], code, now))
    if password_ok and code_ok and not row["disabled"]:
        store.execute("UPDATE users SET failed_logins = 0, locked_until = 0 WHERE id = ?", (row["id"],))
        return _user(row)
    with store.write_transaction():
        failures = store.query_one("SELECT failed_logins FROM users WHERE id = ?", (row["id"],))["failed_logins"] + 1
        store.execute(
            "UPDATE users SET failed_logins = ?, locked_until = ? WHERE id = ?",
            (failures, now + lock_seconds(failures) if lock_seconds(failures) else 0, row["id"]),
        )
    if password_ok and not row["disabled"] and row["totp_enabled"] and not code:
        raise LoginRejected("a one-time code (totp) is required for this account")
    raise LoginRejected("invalid username, password or one-time code")


def start_totp_enrolment(store: Store, username: str) -> str:
    secret = totp.new_secret()
    store.execute("UPDATE users SET totp_secret = ?, totp_enabled = 0 WHERE username = ?", (secret, username))
    return secret


def confirm_totp_enrolment(store: Store, username: str, code: str, now: float | None = None) -> bool:
    row = store.query_one("SELECT totp_secret FROM users WHERE username = ?", (username,))
    if row is None or not row["totp_secret"] or not totp.verify(row["totp_secret"], code, now):
        return False
    store.execute("UPDATE users SET totp_enabled = 1 WHERE username = ?", (username,))
    return True


def admins_without_mfa(store: Store) -> int:
    return store.query_one(
        "SELECT count(*) AS n FROM users WHERE role = 'admin' AND disabled = 0 AND totp_enabled = 0"
    )["n"]
