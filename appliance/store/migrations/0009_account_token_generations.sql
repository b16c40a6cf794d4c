-- Tokens name the account by id and carry its token generation; a request is let in only while both still
-- match (appliance/api/security.py). A password, role or disabled-flag change bumps the generation, so every
-- token issued before it stops working. AUTOINCREMENT: a deleted account's id is never handed to a new one,
-- so a token of a deleted viewer cannot come back to life as the token of an admin created with its name.
-- totp_last_step: the time step of the last one-time code accepted, so that each code is accepted once.
CREATE TABLE users_new (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    username TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('admin', 'analyst', 'viewer')),
    totp_secret TEXT,
    totp_enabled INTEGER NOT NULL DEFAULT 0,
    failed_logins INTEGER NOT NULL DEFAULT 0,
    locked_until REAL NOT NULL DEFAULT 0,
    disabled INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    token_generation INTEGER NOT NULL DEFAULT 0,
    totp_last_step INTEGER NOT NULL DEFAULT 0
);
INSERT INTO users_new (id, username, password_hash, role, totp_secret, totp_enabled, failed_logins, locked_until,
                       disabled, created_at)
    SELECT id, username, password_hash, role, totp_secret, totp_enabled, failed_logins, locked_until,
           disabled, created_at
    FROM users;
DROP TABLE users;
ALTER TABLE users_new RENAME TO users;
