from __future__ import annotations

import time
import uuid

import msgspec

from appliance.store.database import Store
from appliance.whitelist.models import WhitelistEntry, WhitelistIn, entry_matches


def list_entries(store: Store, *, include_expired: bool = True, now: float | None = None) -> list[WhitelistEntry]:
    now = time.time() if now is None else now
    rows = store.query("SELECT * FROM whitelist ORDER BY created_at, id")
    entries = [WhitelistEntry(**row) for row in rows]
    if include_expired:
        return entries
    return [entry for entry in entries if entry.expires_at is None or entry.expires_at > now]


def add_entry(
    store: Store, entry: WhitelistIn, created_by: str, now: float | None = None
) -> tuple[WhitelistEntry, int]:
    """Store the entry and resolve the open alerts it covers. Returns (entry, alerts suppressed)."""
    now = time.time() if now is None else now
    stored = WhitelistEntry(
        id=str(uuid.uuid4()), created_by=created_by, created_at=now, **msgspec.structs.asdict(entry)
    )
    with store.write_transaction() as connection:
        store.db()["whitelist"].insert(msgspec.structs.asdict(stored))
        suppressed = suppress_matching_alerts(connection, stored, now)
    return stored, suppressed


def suppress_matching_alerts(connection, entry: WhitelistEntry, now: float) -> int:
    open_alerts = connection.execute(
        "SELECT id, source_ip, dest_ip, port, rule_name, timestamp FROM alerts WHERE status = 'open'"
    ).fetchall()
    matching = [
        alert_id
        for alert_id, source_ip, dest_ip, port, rule_name, _ in open_alerts
        if entry_matches(entry, source_ip=source_ip, dest_ip=dest_ip, port=port, rule_name=rule_name, at=now)
    ]
    note = f"Suppressed by whitelist entry {entry.id}"
    connection.executemany(
        "UPDATE alerts SET status = 'resolved', updated_at = ?, first_response_at = coalesce(first_response_at, ?), "
        "notes = CASE WHEN notes = '' THEN ? ELSE notes || char(10) || ? END WHERE id = ?",
        [(now, now, note, note, alert_id) for alert_id in matching],
    )
    return len(matching)


def delete_entry(store: Store, entry_id: str) -> WhitelistEntry | None:
    with store.write_transaction():
        row = store.query_one("SELECT * FROM whitelist WHERE id = ?", (entry_id,))
        if row is None:
            return None
        store.execute("DELETE FROM whitelist WHERE id = ?", (entry_id,))
    return WhitelistEntry(**row)
