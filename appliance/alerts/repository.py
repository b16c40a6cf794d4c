"""SQL for alerts. Every list query walks an index that is already in newest-first order."""

from __future__ import annotations

import json
import os
import time
import uuid

from appliance.alerts.models import Alert, AlertDetail

ALERT_COLUMNS = "id, severity, rule_name, source_ip, dest_ip, port, protocol, score, timestamp, status, shap_json"


def new_alert_id(now: float | None = None) -> str:
    """A UUIDv7: time-ordered, so new alerts land at the end of the id index instead of at random pages
    (fewer pages dirtied and re-encrypted per insert)."""
    milliseconds = int((time.time() if now is None else now) * 1000)
    random_bits = int.from_bytes(os.urandom(10), "big")
    value = (
        (milliseconds << 80) | (0x7 << 76) | ((random_bits >> 68) << 64) | (0b10 << 62) | (random_bits & (2**62 - 1))
    )
    return str(uuid.UUID(int=value))


def _alert(row: tuple) -> Alert:
    return Alert(*row[:10], shap_json=json.loads(row[10]))


def list_alerts(
    connection, *, severity: str | None, status: str | None, rule: str | None, limit: int, offset: int,
    host: str | None = None, since: int | None = None, until: int | None = None,
) -> tuple[list[Alert], int]:
    conditions, parameters = [], []
    for column, value in (("severity", severity), ("status", status), ("rule_name", rule)):
        if value is not None:
            conditions.append(f"{column} = ?")
            parameters.append(value)
    counted_conditions = list(conditions)
    if host is not None:
        conditions.append("(source_ip = ? OR dest_ip = ?)")
        parameters += [host, host]
    if since is not None:
        conditions.append("timestamp >= ?")
        parameters.append(since)
    if until is not None:
        conditions.append("timestamp < ?")
        parameters.append(until)
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    rows = connection.execute(
        f"SELECT {ALERT_COLUMNS} FROM alerts {where} ORDER BY timestamp DESC, id DESC LIMIT ? OFFSET ?",
        (*parameters, limit, offset),
    ).fetchall()
    if counted_conditions == conditions:
        # Same filter, answered from the trigger-maintained totals (migration 0003) instead of a scan.
        total = connection.execute(f"SELECT coalesce(sum(n), 0) FROM alert_counts {where}", parameters).fetchall()[0][0]
    else:  # a host or a time range: the totals do not know them, count the rows
        total = connection.execute(f"SELECT count(*) FROM alerts {where}", parameters).fetchall()[0][0]
    return [_alert(row) for row in rows], total


def get_alert(connection, alert_id: str) -> AlertDetail | None:
    rows = connection.execute(
        f"SELECT {ALERT_COLUMNS}, notes, trace_id, evidence, first_seen, last_seen FROM alerts WHERE id = ?",
        (alert_id,),
    ).fetchall()
    if not rows:
        return None
    row = rows[0]
    return AlertDetail(*row[:10], shap_json=json.loads(row[10]), notes=row[11], trace_id=row[12],
                       evidence=json.loads(row[13]), first_seen=row[14], last_seen=row[15])


def update_alert(connection, alert_id: str, *, status: str | None, notes: str | None, now: float | None = None) -> bool:
    now = time.time() if now is None else now
    assignments, parameters = ["updated_at = ?"], [now]
    if status is not None:
        assignments.append("status = ?")
        parameters.append(status)
        if status != "open":
            assignments.append("first_response_at = coalesce(first_response_at, ?)")
            parameters.append(now)
    if notes is not None:
        assignments.append("notes = ?")
        parameters.append(notes)
    before = connection.total_changes()
    connection.execute(f"UPDATE alerts SET {', '.join(assignments)} WHERE id = ?", (*parameters, alert_id))
    return connection.total_changes() > before


def insert_alert(
    connection,
    *,
    severity: str,
    rule_name: str,
    source_ip: str,
    dest_ip: str | None,
    port: int | None,
    protocol: str | None,
    score: float,
    timestamp: int,
    shap_json: dict,
    status: str = "open",
    alert_id: str | None = None,
    now: float | None = None,
) -> str:
    now = time.time() if now is None else now
    alert_id = alert_id or new_alert_id(now)
    connection.execute(
        f"INSERT INTO alerts ({ALERT_COLUMNS}, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            alert_id,
            severity,
            rule_name,
            source_ip,
            dest_ip,
            port,
            protocol,
            score,
            timestamp,
            status,
            json.dumps(shap_json),
            now,
            now,
        ),
    )
    return alert_id
