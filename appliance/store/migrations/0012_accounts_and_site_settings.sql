-- One-time recovery codes for an account with TOTP: shown once when made, stored only as SHA-256 hashes
-- (each is 80 random bits, so a plain hash is enough), each accepted once (used_at set by one
-- compare-and-set UPDATE). Making a new set replaces the old one.
CREATE TABLE totp_recovery_codes (
    user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    used_at REAL,
    PRIMARY KEY (user_id, code_hash)
);

-- The reports made from an incident, listed with it: which, when, by whom, and the SHA-256 of the PDF handed
-- out, so the copy sent to the CSIRT or the authority can be matched later.
CREATE TABLE incident_reports (
    id INTEGER PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    title TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    generated_by TEXT NOT NULL,
    generated_at REAL NOT NULL
);
CREATE INDEX incident_reports_by_incident ON incident_reports (incident_id, generated_at);
