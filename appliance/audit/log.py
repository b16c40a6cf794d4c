"""Append-only, hash-chained audit entries.

Each entry's hash covers its own fields and the previous entry's hash, so editing, deleting or
reordering any entry breaks every hash after it; `verify_chain` says where. Retention removes the oldest
entries only behind an anchor (appliance/evidence/retention.py): the chain is verified from the newest anchor on.
"""

from __future__ import annotations

import hashlib
import json
import threading
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


def chain_start(store: Store) -> tuple[str, int]:
    """(the hash the first kept entry links to, the id before it): the genesis, or the newest anchor."""
    anchor = store.query_one(
        "SELECT through_id, hash FROM chain_anchors WHERE chain = 'audit_log' ORDER BY through_id DESC LIMIT 1"
    )
    return (GENESIS, 0) if anchor is None else (anchor["hash"], anchor["through_id"])


def verify_chain(store: Store) -> tuple[bool, int | None, int]:
    """(intact, id of the first broken entry or None, entries checked)."""
    previous, after_id = chain_start(store)
    intact, broken, checked, _ = _walk(store, previous, after_id=after_id)
    return intact, broken, checked


def _walk(store: Store, previous: str, after_id: int) -> tuple[bool, int | None, int, tuple[int, str]]:
    """Check the entries after `after_id`, the one before them having hash `previous`; also return the
    (id, hash) of the last good entry."""
    checked, last = 0, (after_id, previous)
    for row in store.connection().execute(
        "SELECT id, timestamp, username, source_ip, action, target, details, previous_hash, hash "
        "FROM audit_log WHERE id > ? ORDER BY id",
        (after_id,),
    ):
        entry_id, timestamp, username, source_ip, action, target, details, previous_hash, stored = row
        expected = entry_hash(previous, timestamp, username, source_ip, action, target, details)
        if previous_hash != previous or stored != expected:
            return False, entry_id, checked, last
        previous, last = stored, (entry_id, stored)
        checked += 1
    return True, None, checked, last


class ChainVerifier:
    """verify_chain for a server that shows the audit log page after page: the first call checks every entry,
    later ones only the entries appended since. That is sound because an old entry cannot change in place
    without dropping migration 0007's append-only triggers, which changes PRAGMA schema_version (a fresh full
    check), and the last entry checked must still be there with the hash it had. One per worker process."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._verified: tuple[int, int, str, int] | None = None  # schema version, last id, its hash, entries

    def verify(self, store: Store) -> tuple[bool, int | None, int]:
        with self._lock:
            schema = store.query_one("PRAGMA schema_version")["schema_version"]
            start = self._verified
            if start is not None:
                version, last_id, last_hash, _ = start
                still = store.query_one("SELECT hash FROM audit_log WHERE id = ?", (last_id,))
                if version != schema or still is None or still["hash"] != last_hash:
                    start = None
            previous, after_id, before = (*chain_start(store), 0) if start is None else (start[2], start[1], start[3])
            intact, broken, checked, (last_id, last_hash) = _walk(store, previous, after_id)
            self._verified = (schema, last_id, last_hash, before + checked) if intact else None
            return intact, broken, before + checked
