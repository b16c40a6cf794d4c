-- One-time recovery codes for an account with TOTP: shown once when made, stored only as SHA-256 hashes
-- (each is 80 random bits, so a plain hash is enough), each accepted once (used_at set by one
-- compare-and-set UPDATE). Making a new set replaces the old one.
CREATE TABLE totp_recovery_codes (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at REAL,
    PRIMARY KEY (user_id, code_hash)
);
