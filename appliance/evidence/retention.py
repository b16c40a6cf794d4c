"""Retention: how long the box keeps each kind of evidence, by age, without breaking its hash chains.

Kinds and what their age is:
- flows: the flow log and the protocol events (packet time of the flow's start / the event), and the records in
  the raw ingest batches they came in (when the batch arrived): a pruned batch keeps its row (agent, seq, the
  processing order, its capture statistics) with its flows and events emptied. Only batches the engine's
  checkpoint covers are emptied, so a replay after a restart still finds every record it needs; a SIEM export
  lagging behind retention finds nothing left in them;
- traces: decision traces (when the decision was taken);
- audit_log: audit entries (when the entry was written).
The engine prunes (it is the store's single writer) at most once per PRUNE_INTERVAL_S, in chunks of CHUNK rows
per transaction so that a large first pruning never holds the write lock for long.

The two hash chains lose only a prefix, never their newest entry (the next entry links to it), and never the
decision traces of an alert in an open or contained incident or one under legal hold (its evidence is kept until
the incident is handled or released; the traces after it stay too, a chain having no holes). The flow log keeps
the evidence flows of held incidents (appliance/evidence/legal_hold.py). Each pruning writes an anchor, the hash of the
last entry removed (chain_anchors, migration 0011): verification starts there (appliance/audit/log.py). For the
decision traces the anchor is also signed like any checkpoint, so a proof trail of a kept trace still ends in
a checkpoint the box signed.

Packets are kept by each sensor's ring within the budget and disk share set here (sensor/packets/ring.py). While
the evidence (database pages in use and packet files) takes more than `evidence_disk_percent` of the data disk, the
oldest flows go, chunk by chunk, then the oldest decision traces (with the same anchors and exceptions).
Not pruned: alerts (their analytics roll-ups count them).
"""

from __future__ import annotations

import itertools
import json
import logging
import math
import shutil
import time
from typing import Annotated

import msgspec

from appliance.audit import log as audit
from appliance.box_identity import box_id, signing_key
from appliance.compliance.incidents import ONGOING
from appliance.evidence import legal_hold
from appliance.store.database import Store
from appliance.traces.chain import sign_checkpoint
from sensor.records import Batch, decode_batch, encode_batch

log = logging.getLogger("netsenx.retention")

DAY = 86400
PRUNE_INTERVAL_S = 3600
CHUNK = 10_000
SETTING = "retention"
BATCHES_EMPTIED_THROUGH = "retention_batches_emptied_through"  # processing order (ingest_batches.processed_seq)
AUDIT_USER = "system:retention"
# not a flow (or an event of a flow) of an incident under legal hold; the parameter is legal_hold.held_flow_keys
HELD_FLOW = "agent_id || char(0) || {uid} NOT IN (SELECT value FROM json_each(?))"

Days = Annotated[int, msgspec.Meta(ge=1, le=36500, description="days an entry is kept")]
Megabytes = Annotated[int, msgspec.Meta(ge=1, le=16 * 1024 * 1024, description="MiB")]
Percent = Annotated[int, msgspec.Meta(ge=1, le=95, description="per cent of the data disk")]


class RetentionSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Days each kind of evidence is kept, and the packet store's budget."""

    flows_days: Days = 30
    traces_days: Days = 730
    audit_log_days: Days = 730
    packets_max_mb: Megabytes = 2048
    """Each sensor's packet ring: the oldest packets go first once it is full."""
    evidence_disk_percent: Percent = 50
    """The most of the data disk the evidence (the database and every packet ring) may take; also the most a
    single packet ring may take, whatever its budget."""


class Pruned(msgspec.Struct, kw_only=True):
    """What one pruning removed."""

    flows: int = 0
    events: int = 0
    batches: int = 0  # ingest batches whose records were emptied
    traces: int = 0
    audit_log: int = 0
    disk_share_rounds: int = 0  # chunks pruned because the evidence took more than its share of the disk

    def any(self) -> bool:
        return any(msgspec.structs.astuple(self))


def load_settings(store: Store) -> RetentionSettings:
    return msgspec.convert(store.get_setting(SETTING, {}), RetentionSettings)


def save_settings(store: Store, settings: RetentionSettings) -> None:
    store.set_setting(SETTING, msgspec.to_builtins(settings))


def prune(store: Store, settings: RetentionSettings, now: float | None = None,
          disk_bytes: int | None = None) -> Pruned:
    """Remove what is older than its kind's retention, then the oldest flows and traces while the evidence takes
    more than its share of the data disk (`disk_bytes`: the disk's size, by default measured); an audit entry says
    what went."""
    now = time.time() if now is None else now
    flows, events = _prune_flow_log(store, now - settings.flows_days * DAY)
    pruned = Pruned(flows=flows, events=events, batches=_empty_batches(store, now - settings.flows_days * DAY),
                    traces=_prune_traces(store, now - settings.traces_days * DAY),
                    audit_log=_prune_audit_log(store, now - settings.audit_log_days * DAY))
    disk_bytes = shutil.disk_usage(store.data_dir.root).total if disk_bytes is None else disk_bytes
    _prune_to_disk_share(store, disk_bytes * settings.evidence_disk_percent // 100, pruned)
    if pruned.any():
        log.info("retention pruned %s", pruned)
        audit.record(store, username=AUDIT_USER, source_ip="local", action="retention.pruned",
                     details=msgspec.to_builtins(pruned))
    return pruned


# --- the disk share -----------------------------------------------------------------------------------------
def evidence_bytes(store: Store) -> int:
    """What the evidence takes on the data disk: the database's pages in use and every packet file."""
    connection = store.connection()
    pages, free, page_size = (connection.execute(f"PRAGMA {name}").fetchall()[0][0]
                              for name in ("page_count", "freelist_count", "page_size"))
    packet_files = store.data_dir.packets.rglob("*") if store.data_dir.packets.is_dir() else []
    return (pages - free) * page_size + sum(path.stat().st_size for path in packet_files if path.is_file())


def _prune_to_disk_share(store: Store, allowed: int, pruned: Pruned) -> None:
    """Oldest first, a chunk at a time: flows and their events, then (no flow left to go) decision traces. Deleted
    pages are reused by the database, so what counts is the pages in use, not the file's size."""
    while evidence_bytes(store) > allowed:
        held = json.dumps(legal_hold.held_flow_keys(store.connection()))
        cuts = [store.query_one(f"SELECT max(ts) AS ts FROM (SELECT {time_column} AS ts FROM {table} WHERE "
                                f"{HELD_FLOW.format(uid=uid)} ORDER BY {time_column} LIMIT ?)", (held, CHUNK))["ts"]
                for table, time_column, uid in (("flow_log", "ts_start", "uid"), ("event_log", "ts", "flow_uid"))]
        cut = min((ts for ts in cuts if ts is not None), default=None)  # a chunk of the older of flows and events
        if cut is not None:
            flows, events = _prune_flow_log(store, math.nextafter(cut, math.inf))
            pruned.flows, pruned.events = pruned.flows + flows, pruned.events + events
        else:
            cut = store.query_one("SELECT created_at AS ts FROM decision_traces ORDER BY seq LIMIT 1 OFFSET ?",
                                  (CHUNK - 1,)) or store.query_one("SELECT max(created_at) AS ts FROM decision_traces")
            traces = _prune_traces(store, math.nextafter(cut["ts"], math.inf)) if cut and cut["ts"] else 0
            if not traces:  # what is left is held, ongoing or the chain's head: nothing more may go
                log.warning("the evidence takes more than its share of the data disk and nothing more may be pruned")
                return
            pruned.traces += traces
        pruned.disk_share_rounds += 1


# --- the flow log -------------------------------------------------------------------------------------------
def _prune_flow_log(store: Store, before: float) -> tuple[int, int]:
    flows = events = 0
    held = json.dumps(legal_hold.held_flow_keys(store.connection()))
    while chunk := _prune_flows_chunk(store, before, held):
        flows += chunk
    while chunk := _prune_events_chunk(store, before, held):
        events += chunk
    return flows, events


def _prune_flows_chunk(store: Store, before: float, held: str) -> int:
    with store.write_transaction() as connection:
        rows = connection.execute(
            "SELECT id, ts_start, src_ip, dst_ip FROM flow_log WHERE ts_start < ? "
            f"AND {HELD_FLOW.format(uid='uid')} ORDER BY ts_start LIMIT ?",
            (before, held, CHUNK),
        ).fetchall()
        # flow_log_addresses is keyed (address, time, flow): each row is removed by its key, not by a scan
        connection.executemany(
            "DELETE FROM flow_log_addresses WHERE ip = ? AND ts_start = ? AND flow_id = ?",
            [(ip, ts_start, flow_id) for flow_id, ts_start, src_ip, dst_ip in rows for ip in {src_ip, dst_ip}],
        )
        connection.executemany("DELETE FROM flow_log WHERE id = ?", [(row[0],) for row in rows])
    return len(rows)


def _prune_events_chunk(store: Store, before: float, held: str) -> int:
    with store.write_transaction() as connection:
        connection.execute(
            "DELETE FROM event_log WHERE id IN (SELECT id FROM event_log WHERE ts < ? "
            f"AND {HELD_FLOW.format(uid='flow_uid')} ORDER BY ts LIMIT ?)",
            (before, held, CHUNK),
        )
        return connection.changes()


def _empty_batches(store: Store, before: float) -> int:
    emptied = 0
    while chunk := _empty_batches_chunk(store, before):
        emptied += chunk
    return emptied


def _empty_batches_chunk(store: Store, before: float) -> int:
    """Batches are emptied in processing order; BATCHES_EMPTIED_THROUGH remembers how far."""
    with store.write_transaction() as connection:
        done_through = store.get_setting(BATCHES_EMPTIED_THROUGH, 0)
        covered = connection.execute("SELECT coalesce(max(processed_seq), 0) FROM engine_checkpoint").fetchall()[0][0]
        rows = connection.execute(
            "SELECT id, processed_seq, received_at, agent_id, seq, payload FROM ingest_batches "
            "WHERE processed_seq > ? AND processed_seq <= ? ORDER BY processed_seq LIMIT ?",
            (done_through, covered, CHUNK),
        ).fetchall()
        old = list(itertools.takewhile(lambda row: row[2] < before, rows))
        connection.executemany("UPDATE ingest_batches SET payload = ? WHERE id = ?",
                               [(_without_records(agent_id, seq, payload), batch_id)
                                for batch_id, _, _, agent_id, seq, payload in old])
        if old:
            store.set_setting(BATCHES_EMPTIED_THROUGH, old[-1][1])
    return len(old)


def _without_records(agent_id: str, seq: int, payload: bytes) -> bytes:
    """The batch with its flows and events taken out (its capture statistics kept, when it can be read)."""
    try:
        batch = decode_batch(payload)
    except msgspec.MsgspecError:  # records the engine salvaged from long ago: none of them is kept either
        batch = Batch(agent_id=agent_id, seq=seq, sent_at=0.0)
    return encode_batch(msgspec.structs.replace(batch, flows=[], events=[]))


# --- the hash chains ----------------------------------------------------------------------------------------
def latest_anchor(connection, chain: str) -> tuple[int, str] | None:
    """(through_id, hash) of the chain's newest anchor, or None when nothing was ever pruned."""
    rows = connection.execute(
        "SELECT through_id, hash FROM chain_anchors WHERE chain = ? ORDER BY through_id DESC LIMIT 1", (chain,)
    ).fetchall()
    return (rows[0][0], rows[0][1]) if rows else None


def _anchor(connection, chain: str, through_id: int, chain_hash: str, pruned: int) -> None:
    connection.execute(
        "INSERT INTO chain_anchors (chain, through_id, hash, pruned, created_at) VALUES (?, ?, ?, ?, ?)",
        (chain, through_id, chain_hash, pruned, time.time()),
    )


def _prune_traces(store: Store, before: float) -> int:
    key, box = signing_key(store), box_id(store)
    with store.write_transaction() as connection:
        through = _traces_through(connection, before)
        if through is None:
            return 0
        chain_hash = connection.execute("SELECT hash FROM decision_traces WHERE seq = ?", (through,)).fetchall()[0][0]
        sign_checkpoint(connection, key, box, through, chain_hash)
        connection.execute("DELETE FROM trace_search WHERE rowid <= ?", (through,))
        connection.execute("DELETE FROM decision_traces WHERE seq <= ?", (through,))
        removed = connection.changes()
        connection.execute("DELETE FROM trace_checkpoints WHERE seq < ?", (through,))
        _anchor(connection, "decision_traces", through, chain_hash, removed)
    return removed


def _traces_through(connection, before: float) -> int | None:
    """The last seq to remove: older than `before`, before the head and before the first trace of an alert in
    an ongoing incident; None when that leaves nothing."""
    oldest, head, first_kept, first = connection.execute(
        "SELECT (SELECT max(seq) FROM decision_traces WHERE created_at < ?), (SELECT max(seq) FROM decision_traces), "
        "(SELECT min(t.seq) FROM decision_traces t JOIN incident_alerts a ON a.alert_id = t.alert_id "
        f" JOIN incidents i ON i.id = a.incident_id WHERE i.status IN ({', '.join('?' * len(ONGOING))}) "
        "  OR i.id IN (SELECT incident_id FROM legal_holds)), "
        "(SELECT min(seq) FROM decision_traces)",
        (before, *ONGOING),
    ).fetchall()[0]
    if oldest is None:
        return None
    through = min(oldest, head - 1, first_kept - 1 if first_kept is not None else oldest)
    return through if through >= first else None


def _prune_audit_log(store: Store, before: float) -> int:
    with store.write_transaction() as connection:
        oldest, head = connection.execute(
            "SELECT (SELECT max(id) FROM audit_log WHERE timestamp < ?), (SELECT max(id) FROM audit_log)", (before,)
        ).fetchall()[0]
        if oldest is None:
            return 0
        through = min(oldest, head - 1)
        rows = connection.execute("SELECT hash FROM audit_log WHERE id = ?", (through,)).fetchall()
        if not rows:
            return 0
        count = connection.execute("SELECT count(*) FROM audit_log WHERE id <= ?", (through,)).fetchall()[0][0]
        _anchor(connection, "audit_log", through, rows[0][0], count)  # first: the guard lets covered entries go
        connection.execute("DELETE FROM audit_log WHERE id <= ?", (through,))
    return count


class RetentionPruner:
    """The engine's call: prune when PRUNE_INTERVAL_S has passed since the last run (the first call prunes)."""

    def __init__(self, store: Store, interval_s: float = PRUNE_INTERVAL_S) -> None:
        self.store = store
        self.interval_s = interval_s
        self._last: float | None = None

    def run_if_due(self) -> Pruned | None:
        now = time.monotonic()
        if self._last is not None and now - self._last < self.interval_s:
            return None
        self._last = now
        try:
            return prune(self.store, load_settings(self.store))
        except Exception:  # pruning is housekeeping: it never stops detection; the next interval tries again
            log.exception("retention pruning failed")
            return None
