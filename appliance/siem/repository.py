"""SQL for the SIEM export destinations (migration 0010)."""

from __future__ import annotations

import json
import time
import uuid

from appliance.siem.cursor import START, ExportCursor
from appliance.siem.models import ExportDestination, ExportDestinationIn
from appliance.store.database import Store

CONFIG_FIELDS = ("host", "port", "transport", "schema", "records", "evidence", "facility", "ca_pem")


class DestinationNameTaken(ValueError):
    pass


def _destination(row: dict) -> ExportDestination:
    config = json.loads(row["config"])
    return ExportDestination(
        id=row["id"], name=row["name"], enabled=bool(row["enabled"]), **{name: config[name] for name in CONFIG_FIELDS},
        cursor=row["cursor"], events_sent=row["events_sent"], failures=row["failures"],
        retry_at=row["retry_at"] or None, last_error=row["last_error"], last_sent_at=row["last_sent_at"],
        created_by=row["created_by"], created_at=row["created_at"], updated_at=row["updated_at"],
    )


def current_end(store: Store) -> ExportCursor:
    """The cursor after everything the box holds now."""
    traces = store.query_one("SELECT coalesce(max(seq), 0) AS seq FROM decision_traces")["seq"]
    batches = store.query_one("SELECT coalesce(max(id), 0) AS id FROM ingest_batches")["id"]
    return ExportCursor(traces, batches + 1, 0)


def _config(data: ExportDestinationIn) -> str:
    return json.dumps({name: getattr(data, name) for name in CONFIG_FIELDS})


def _name_taken(store: Store, name: str, but: str | None) -> None:
    if store.query_one("SELECT 1 FROM export_destinations WHERE name = ? AND id IS NOT ?", (name, but)):
        raise DestinationNameTaken(f"name: an export destination called {name!r} exists already")


def create(store: Store, data: ExportDestinationIn, created_by: str, now: float | None = None) -> ExportDestination:
    now = time.time() if now is None else now
    destination_id = uuid.uuid4().hex[:16]
    with store.write_transaction():
        _name_taken(store, data.name, None)
        cursor = START if data.start == "beginning" else str(current_end(store))
        store.execute(
            "INSERT INTO export_destinations (id, name, enabled, config, cursor, created_by, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (destination_id, data.name, int(data.enabled), _config(data), cursor, created_by, now, now))
    return get(store, destination_id)


def update(store: Store, destination_id: str, data: ExportDestinationIn, now: float | None = None
           ) -> ExportDestination | None:
    """Changes the address and format; the stream goes on from its cursor (`start` applies at creation only)."""
    with store.write_transaction():
        if get(store, destination_id) is None:
            return None
        _name_taken(store, data.name, destination_id)
        store.execute("UPDATE export_destinations SET name = ?, enabled = ?, config = ?, failures = 0, retry_at = 0, "
                      "updated_at = ? WHERE id = ?",
                      (data.name, int(data.enabled), _config(data), time.time() if now is None else now,
                       destination_id))
    return get(store, destination_id)


def delete(store: Store, destination_id: str) -> bool:
    return store.execute("DELETE FROM export_destinations WHERE id = ?", (destination_id,)) > 0


def get(store: Store, destination_id: str) -> ExportDestination | None:
    row = store.query_one("SELECT * FROM export_destinations WHERE id = ?", (destination_id,))
    return None if row is None else _destination(row)


def list_all(store: Store, *, enabled_only: bool = False) -> list[ExportDestination]:
    where = "WHERE enabled = 1" if enabled_only else ""
    return [_destination(row) for row in store.query(f"SELECT * FROM export_destinations {where} ORDER BY name")]


def advanced(store: Store, destination_id: str, cursor: str, sent: int, now: float) -> None:
    store.execute("UPDATE export_destinations SET cursor = ?, events_sent = events_sent + ?, failures = 0, "
                  "retry_at = 0, last_error = '', last_sent_at = CASE WHEN ? > 0 THEN ? ELSE last_sent_at END "
                  "WHERE id = ?", (cursor, sent, sent, now, destination_id))


def failed(store: Store, destination_id: str, error: str, retry_at: float | None) -> None:
    """A failed page (retry_at: when to try again), or the stream held back (retry_at None: no back-off)."""
    store.execute("UPDATE export_destinations SET failures = failures + (? IS NOT NULL), retry_at = coalesce(?, 0), "
                  "last_error = ? WHERE id = ?", (retry_at, retry_at, error[:1000], destination_id))

