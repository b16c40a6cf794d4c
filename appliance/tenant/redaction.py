"""What an export never contains: credentials and key material.

The export is a person's copy of their data, so it must not hand out anything that lets its holder act as
the box or as a user. Three layers, so a table or setting added by a later migration is safe by default:
- whole tables that hold only credentials' identifiers;
- named columns (password hashes, TOTP seeds, raw sensor payloads, license keys);
- named settings (the token signing secret, the box's Ed25519 private key);
- a name pattern (`*secret*`, `*password*`, `*token*`, `*_key`, ...) applied to every column name and to the
  key of every row of a key/value table (settings), minus the names in SAFE_NAMES, each with why it is safe.
"""

from __future__ import annotations

import re

WITHHELD_TABLES = {
    "revoked_tokens": "ids of logged-out access tokens: credential identifiers, no data about anyone",
}

WITHHELD_COLUMNS = {
    "users": {
        "password_hash": "a password verifier: lets its holder brute-force the password offline",
        "totp_secret": "the seed of the one-time codes: whoever holds it passes the second factor",
    },
    "ingest_batches": {
        "payload": "raw msgpack batches of the durable ingest queue; what they say about hosts is exported "
        "as alerts, decision traces and device risk, the queue's metadata (sensor, sequence, time, flow count) "
        "is exported",
    },
    "license_keys": {
        "license_key": "the signed key trades for sensor tokens (POST /agents/auth); its id and dates are exported",
    },
}

SECRET_SETTINGS = {
    "token_signing_secret": "signs every access token: whoever holds it can log in as anyone",
    "box_signing_key": "the box's Ed25519 private key: whoever holds it can sign trace checkpoints as the box",
}

SECRET_NAME = re.compile(r"secret|password|passphrase|private|credential|token|(^|_)(key|seed)$", re.IGNORECASE)

# Names the pattern catches that hold no secret.
SAFE_NAMES = {
    "key": "the name column of key/value tables (settings, engine_state); the values are checked separately",
    "public_key": "the box's Ed25519 public key in trace checkpoints: published so auditors can verify them",
    "incident_key": "the engine's grouping key of an incident (rule and hosts), not key material",
    "token_generation": "a counter an account's password, role or status change bumps: no credential",
}


def is_secret_name(name: str) -> bool:
    return name not in SAFE_NAMES and bool(SECRET_NAME.search(name))


def withheld_columns(table: str, columns: list[str]) -> dict[str, str]:
    """The columns of `table` the export leaves out, with why."""
    named = WITHHELD_COLUMNS.get(table, {})
    return {
        column: named.get(column, "its name marks it as a secret")
        for column in columns
        if column in named or is_secret_name(column)
    }


def is_secret_setting(key: str) -> bool:
    """A row of a key/value table (settings) that holds a secret."""
    return key in SECRET_SETTINGS or is_secret_name(key)
