"""Read the export stream from a cursor: one page of records, and the cursor after it.

A page holds the alerts first (decision traces that raised or updated an alert, in chain order), then flows and
protocol events (ingested batches in arrival order; within a batch, its flows, then its events). Each record
carries the cursor just after itself, so a reader that stops half way through a page resumes exactly there.
"""

from __future__ import annotations

import json
import logging
from typing import Literal

import msgspec

from appliance.siem.cursor import ExportCursor
from appliance.store.database import Store
from sensor.records import Batch, Event, Flow

log = logging.getLogger("netsenx.siem")

RecordKind = Literal["alerts", "flows", "protocol_events"]
ALERT_OUTCOMES = ("alert_raised", "alert_updated")
MAX_PAGE = 1000

_BATCH = msgspec.msgpack.Decoder(Batch)


class ExportRecord(msgspec.Struct, frozen=True):
    cursor: ExportCursor  # the position just after this record
    kind: Literal["alert", "flow", "event"]
    data: dict | Flow | Event  # alert: the decision trace's content (+ seq, alert_id, outcome, decided_at)
    agent_id: str | None = None


class Page(msgspec.Struct, frozen=True):
    records: list[ExportRecord]
    next: ExportCursor
    more: bool  # the page is full: ask again right away


def read_page(store: Store, after: ExportCursor, kinds: frozenset[str], limit: int) -> Page:
    limit = max(1, min(limit, MAX_PAGE))
    records: list[ExportRecord] = []
    position = after
    if "alerts" in kinds:
        position = _alerts(store, position, limit, records)
    if ({"flows", "protocol_events"} & kinds) and len(records) < limit:
        position = _batch_records(store, position, kinds, limit, records)
    return Page(records, position, len(records) >= limit)


def _alerts(store: Store, after: ExportCursor, limit: int, records: list[ExportRecord]) -> ExportCursor:
    top = store.query_one("SELECT coalesce(max(seq), 0) AS seq FROM decision_traces")["seq"]
    rows = store.query(
        f"SELECT seq, outcome, alert_id, content FROM decision_traces WHERE seq > ? AND seq <= ? "
        f"AND outcome IN ({','.join('?' * len(ALERT_OUTCOMES))}) ORDER BY seq LIMIT ?",
        (after.trace_seq, top, *ALERT_OUTCOMES, limit),
    )
    for row in rows:
        content = json.loads(row["content"]) | {"seq": row["seq"], "outcome": row["outcome"],
                                                 "alert_id": row["alert_id"]}
        position = msgspec.structs.replace(after, trace_seq=row["seq"])
        records.append(ExportRecord(position, "alert", content, (content.get("batch") or {}).get("agent_id")))
    # A short page read every alert trace up to `top`: the decisions in between (suppressed, below threshold)
    # are passed over for good, not scanned again by the next call.
    last = rows[-1]["seq"] if len(rows) >= limit else top
    return msgspec.structs.replace(after, trace_seq=max(after.trace_seq, last))


def _batch_records(store: Store, after: ExportCursor, kinds: frozenset[str], limit: int,
                   records: list[ExportRecord]) -> ExportCursor:
    top = store.query_one("SELECT max(id) AS id FROM ingest_batches")["id"]
    position = after
    while top is not None and position.batch_id <= top and len(records) < limit:
        row = store.query_one("SELECT id, agent_id, payload FROM ingest_batches WHERE id >= ? AND id <= ? "
                              "ORDER BY id LIMIT 1", (position.batch_id, top))
        if row is None:
            break
        skip = position.record if row["id"] == position.batch_id else 0
        position = ExportCursor(position.trace_seq, row["id"], skip)
        try:
            batch = _BATCH.decode(row["payload"])
        except (msgspec.DecodeError, msgspec.ValidationError) as error:
            log.warning("export: batch %s cannot be read (%s); passed over", row["id"], error)
            position = ExportCursor(position.trace_seq, row["id"] + 1, 0)
            continue
        everything = [("flow", flow) for flow in batch.flows] + [("event", event) for event in batch.events]
        wanted = {"flow": "flows" in kinds, "event": "protocol_events" in kinds}
        for index in range(skip, len(everything)):
            if len(records) >= limit:
                return position
            kind, record = everything[index]
            position = ExportCursor(position.trace_seq, row["id"], index + 1)
            if wanted[kind]:
                records.append(ExportRecord(position, kind, record, row["agent_id"]))
        position = ExportCursor(position.trace_seq, row["id"] + 1, 0)
    return position
