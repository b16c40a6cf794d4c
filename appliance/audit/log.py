"""Append-only, hash-chained audit entries.

Each entry's hash covers its own fields and the previous entry's hash, so editing, deleting or
reordering any entry breaks every hash after it; `verify_chain` says where.
"""

from __future__ import annotations

import hashlib
import json
import time

import msgspec

from appliance.store.database import Store

GENESIS = "0" * 64


class AuditEntry(msgspec.Struct):
    id: int
    timestamp: float
    username: str
    source_ip: str
    action: str
    target: str
    details: dict
    previous_hash: str
    hash: str


def entry_hash(
    previous_hash: str, timestamp: float, username: str, source_ip: str, action: str, target: str, details_json: str
) -> str:
    canonical = json.dumps(
        [previous_hash, repr(timestamp), username, source_ip, action, target, details_json], separators=(",", ":")
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def record(
    store: Store,
    *,
    username: str,
    source_ip: str,
    action: str,
    target: str = "",
    details: dict | None = None,
    now: float | None = None,
) -> None:
    timestamp = time.time() if now is None else now
    details_json = json.dumps(details or {}, sort_keys=True, separators=(",", ":"))
    with store.write_transaction():
        last = store.query_one("SELECT hash FROM audit_log ORDER BY id DESC LIMIT 1")
        previous = last["hash"] if last else GENESIS
        store.execute(
            "INSERT INTO audit_log (timestamp, username, source_ip, action, target, details, previous_hash, hash) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                timestamp,
                username,
                source_ip,
                action,
                target,
                details_json,
                previous,
                entry_hash(previous, timestamp, username, source_ip, action, target, details_json),
            ),
        )


def page(store: Store, limit: int, offset: int) -> tuple[list[AuditEntry], int]:
    rows = store.query("SELECT * FROM audit_log ORDER BY id DESC LIMIT ? OFFSET ?", (limit, offset))
    total = store.query_one("SELECT count(*) AS n FROM audit_log")["n"]
    return [AuditEntry(**(row | {"details": json.loads(row["details"])})) for row in rows], total


def verify_chain(store: Store) -> tuple[bool, int | None, int]:
    """(intact, id of the first broken entry or None, entries checked)."""
    previous = GENESIS
    checked = 0
    for row in store.connection().execute(
        "SELECT id, timestamp, username, source_ip, action, target, details, previous_hash, hash "
        "FROM audit_log ORDER BY id"
    ):
        entry_id, timestamp, username, source_ip, action, target, details, previous_hash, stored = row
        expected = entry_hash(previous, timestamp, username, source_ip, action, target, details)
        if previous_hash != previous or stored != expected:
            return False, entry_id, checked
        previous = stored
        checked += 1
    return True, None, checked
