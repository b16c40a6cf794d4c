"""Local user accounts: creation, login checks with lockout, TOTP enrolment."""

from __future__ import annotations

import base64
import hashlib
import secrets
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
RECOVERY_CODES = 10  # a set, each used once, for when the authenticator is lost


class User(msgspec.Struct, frozen=True):
    id: int
    username: str
    role: str
    totp_enabled: bool
    disabled: bool
    created_at: float


REJECTED = "invalid username, password or one-time code"


class LoginRejected(Exception):
    """Wrong name, password or code, or a disabled account. The message never says which."""


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


def checked_password(password: str, username: str) -> str:
    """The password's scrypt hash, or UserError saying why the policy refuses it."""
    try:
        passwords.check_strength(password, username)
    except passwords.WeakPassword as error:
        raise UserError(f"password: {error}") from error
    return passwords.hash_password(password)


def create_user(store: Store, username: str, password: str, role: str) -> User:
    validate_username(username)
    if role not in ROLES:
        raise UserError(f"role: must be one of {', '.join(ROLES)}")
    password_hash = checked_password(password, username)
    with store.write_transaction():
        if store.query_one("SELECT 1 FROM users WHERE username = ?", (username,)):
            raise UserError(f"username: {username!r} already exists")
        store.execute(
            "INSERT INTO users (username, password_hash, role, created_at) VALUES (?, ?, ?, ?)",
            (username, password_hash, role, time.time()),
        )
    return get_user(store, username)


def get_user(store: Store, username: str) -> User | None:
    row = store.query_one("SELECT * FROM users WHERE username = ?", (username,))
    return None if row is None else _user(row)


def token_generation(store: Store, user_id: int) -> int | None:
    """The generation a token of this account must carry; None once the account is gone."""
    row = store.query_one("SELECT token_generation FROM users WHERE id = ?", (user_id,))
    return None if row is None else row["token_generation"]


def list_users(store: Store) -> list[User]:
    return [_user(row) for row in store.query("SELECT * FROM users ORDER BY username")]


def update_user(
    store: Store, username: str, *, role: str | None = None, disabled: bool | None = None, password: str | None = None
) -> User:
    """Change an account. A new password, role or disabled flag bumps its token generation: every token
    issued before stops working."""
    if role is not None and role not in ROLES:
        raise UserError(f"role: must be one of {', '.join(ROLES)}")
    password_hash = None if password is None else checked_password(password, username)
    with store.write_transaction():
        current = get_user(store, username)
        if current is None:
            raise LookupError(username)
        role = current.role if role is None else role
        disabled = current.disabled if disabled is None else disabled
        changed = role != current.role or disabled != current.disabled or password_hash is not None
        store.execute(
            "UPDATE users SET role = ?, disabled = ?, token_generation = token_generation + ? WHERE id = ?",
            (role, int(disabled), int(changed), current.id),
        )
        if password_hash is not None:
            store.execute(
                "UPDATE users SET password_hash = ?, failed_logins = 0, locked_until = 0 WHERE id = ?",
                (password_hash, current.id),
            )
        remaining_admins = store.query_one("SELECT count(*) AS n FROM users WHERE role = 'admin' AND disabled = 0")["n"]
        if remaining_admins == 0:
            raise UserError("at least one enabled admin must remain")
    return get_user(store, username)


def delete_user(store: Store, username: str) -> None:
    """Ids are never reused (AUTOINCREMENT), so the tokens of a deleted account never fit another one."""
    with store.write_transaction():
        if store.execute("DELETE FROM users WHERE username = ?", (username,)) == 0:
            raise LookupError(username)
        if store.query_one("SELECT count(*) AS n FROM users WHERE role = 'admin' AND disabled = 0")["n"] == 0:
            raise UserError("at least one enabled admin must remain")


def lock_seconds(failures: int) -> int:
    if failures < FREE_ATTEMPTS:
        return 0
    return min(MAX_LOCK_SECONDS, FIRST_LOCK_SECONDS * 2 ** (failures - FREE_ATTEMPTS))


def count_attempt(store: Store, username: str, now: float) -> dict | None:
    """Count a login attempt as failed BEFORE its password is checked, in one write transaction: a parallel
    burst of guesses then gets FREE_ATTEMPTS checks and no more. A successful login clears the count.
    Returns the account's row (None for an unknown name); raises AccountLocked while the back-off runs."""
    with store.write_transaction():
        row = store.query_one("SELECT * FROM users WHERE username = ?", (username,))
        if row is None:
            return None
        if row["locked_until"] > now:
            raise AccountLocked(int(row["locked_until"] - now) + 1)
        failures = row["failed_logins"] + 1
        lock = lock_seconds(failures)
        store.execute(
            "UPDATE users SET failed_logins = ?, locked_until = ? WHERE id = ?",
            (failures, now + lock if lock else 0, row["id"]),
        )
    return row


def consume_totp_step(store: Store, user_id: int, step: int) -> bool:
    """Accept a one-time code's time step once: only if it is later than the last step accepted for this
    account. One compare-and-set statement, so two requests with the same code cannot both pass."""
    return (
        store.execute(
            "UPDATE users SET totp_last_step = ? WHERE id = ? AND totp_last_step < ?", (step, user_id, step)
        )
        == 1
    )


def _recovery_hash(code: str) -> str:
    normalised = "".join(code.split()).replace("-", "").lower()
    return hashlib.sha256(normalised.encode()).hexdigest()


def new_recovery_codes(store: Store, user_id: int) -> list[str]:
    """A new set of one-time recovery codes, replacing any earlier set; only their hashes are kept."""
    codes = [base64.b32encode(secrets.token_bytes(10)).decode().lower() for _ in range(RECOVERY_CODES)]
    codes = ["-".join(code[i:i + 4] for i in range(0, 16, 4)) for code in codes]
    with store.write_transaction():
        store.execute("DELETE FROM totp_recovery_codes WHERE user_id = ?", (user_id,))
        for code in codes:
            store.execute("INSERT INTO totp_recovery_codes (user_id, code_hash) VALUES (?, ?)",
                          (user_id, _recovery_hash(code)))
    return codes


def use_recovery_code(store: Store, user_id: int, code: str, now: float) -> bool:
    """Accept a recovery code once: one compare-and-set, so two requests with the same code cannot both pass."""
    return store.execute(
        "UPDATE totp_recovery_codes SET used_at = ? WHERE user_id = ? AND code_hash = ? AND used_at IS NULL",
        (now, user_id, _recovery_hash(code)),
    ) == 1


def recovery_codes_left(store: Store, user_id: int) -> int:
    return store.query_one(
        "SELECT count(*) AS n FROM totp_recovery_codes WHERE user_id = ? AND used_at IS NULL", (user_id,)
    )["n"]


def second_factor_passes(store: Store, row: dict, code: str | None, now: float, recovery_code: str | None) -> bool:
    if not row["totp_enabled"]:
        return True
    if recovery_code:
        return use_recovery_code(store, row["id"], recovery_code, now)
    step = totp.matching_step(row["totp_secret"], code or "", now)
    return step is not None and consume_totp_step(store, row["id"], step)


def authenticate(
    store: Store,
    username: str,
    password: str,
    code: str | None,
    now: float | None = None,
    recovery_code: str | None = None,
) -> User:
    """Check a login. Raises LoginRejected or AccountLocked.

    Every rejection is the same LoginRejected, whichever of name, password, account state or one-time code
    was wrong: a right password without its code must not tell a guesser that the password was right."""
    now = time.time() if now is None else now
    row = count_attempt(store, username, now)
    if row is None:
        passwords.verify_password(password, passwords.DUMMY_HASH)  # as long as for a real account
        raise LoginRejected(REJECTED)
    password_ok = passwords.verify_password(password, row["password_hash"])
    if password_ok and not row["disabled"] and second_factor_passes(store, row, code, now, recovery_code):
        store.execute("UPDATE users SET failed_logins = 0, locked_until = 0 WHERE id = ?", (row["id"],))
        return _user(row)
    raise LoginRejected(REJECTED)


def check_current_password(store: Store, username: str, password: str, now: float | None = None) -> None:
    """A signed-in user proving it is still them before a sensitive change. Counts as a login attempt
    (lockout included), so a stolen session cannot be used to guess the password."""
    now = time.time() if now is None else now
    row = count_attempt(store, username, now)
    if row is None or not passwords.verify_password(password, row["password_hash"]):
        raise LoginRejected("current password: not the password of this account")
    store.execute("UPDATE users SET failed_logins = 0, locked_until = 0 WHERE id = ?", (row["id"],))


def change_own_password(store: Store, username: str, current: str, new: str, now: float | None = None) -> User:
    """A signed-in user's new password, given the current one; the change ends every earlier token."""
    check_current_password(store, username, current, now)
    if new == current:
        raise UserError("password: the new password is the current one")
    return update_user(store, username, password=new)


def disable_totp(store: Store, username: str) -> User:
    """An admin's way back in for a user who lost both the authenticator and the recovery codes."""
    with store.write_transaction():
        user = get_user(store, username)
        if user is None:
            raise LookupError(username)
        store.execute("UPDATE users SET totp_enabled = 0, totp_secret = NULL, token_generation = token_generation + 1 "
                      "WHERE id = ?", (user.id,))
        store.execute("DELETE FROM totp_recovery_codes WHERE user_id = ?", (user.id,))
    return get_user(store, username)


def start_totp_enrolment(store: Store, username: str) -> str:
    secret = totp.new_secret()
    store.execute("UPDATE users SET totp_secret = ?, totp_enabled = 0 WHERE username = ?", (secret, username))
    return secret


def confirm_totp_enrolment(store: Store, username: str, code: str, now: float | None = None) -> bool:
    """Enable TOTP once a current code proves the authenticator holds the secret. That code is then used up."""
    row = store.query_one("SELECT id, totp_secret FROM users WHERE username = ?", (username,))
    if row is None or not row["totp_secret"]:
        return False
    step = totp.matching_step(row["totp_secret"], code, now)
    if step is None or not consume_totp_step(store, row["id"], step):
        return False
    store.execute("UPDATE users SET totp_enabled = 1 WHERE id = ?", (row["id"],))
    return True


def admins_without_mfa(store: Store) -> int:
    return store.query_one(
        "SELECT count(*) AS n FROM users WHERE role = 'admin' AND disabled = 0 AND totp_enabled = 0"
    )["n"]
