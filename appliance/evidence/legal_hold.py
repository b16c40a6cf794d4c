"""Legal holds: an incident under hold keeps its evidence until an admin releases it (migration 0014).

What is kept: the decision traces of the incident's alerts (and, the chain having no holes, every later one),
the flow log rows and protocol events of their evidence flows, and the packets of those flows: when the hold is
placed they are cut out of the packet store into a sealed copy of their own (`packets/.held/<incident>.pcap.sealed`,
which no ring ever prunes), dropped again when the hold is released.
"""

from __future__ import annotations

import json
import time

from appliance.compliance.incidents import LegalHold
from appliance.evidence import packets
from appliance.store.database import Store
from sensor.packets.ring import SegmentCipher

HELD_DIRECTORY = ".held"  # never a sensor's ring: a sensor id does not start with a dot
HELD_PADDING_S = 5.0


def hold_of(store: Store, incident_id: str) -> LegalHold | None:
    row = store.query_one("SELECT reason, placed_by, placed_at FROM legal_holds WHERE incident_id = ?",
                          (incident_id,))
    return None if row is None else LegalHold(**row)


def place(store: Store, incident_id: str, reason: str, username: str) -> tuple[LegalHold, packets.Extract | None]:
    """Hold the incident (again: a new reason replaces the old) and preserve its packets."""
    hold = LegalHold(reason=reason, placed_by=username, placed_at=time.time())
    store.execute("INSERT INTO legal_holds (incident_id, reason, placed_by, placed_at) VALUES (?, ?, ?, ?) "
                  "ON CONFLICT (incident_id) DO UPDATE SET reason = excluded.reason, placed_by = excluded.placed_by, "
                  "placed_at = excluded.placed_at", (incident_id, hold.reason, hold.placed_by, hold.placed_at))
    return hold, _preserve_packets(store, incident_id)


def release(store: Store, incident_id: str) -> LegalHold | None:
    """The hold that was lifted (None when there was none); its packet copy goes, retention applies again."""
    hold = hold_of(store, incident_id)
    store.execute("DELETE FROM legal_holds WHERE incident_id = ?", (incident_id,))
    _held_copy(store, incident_id).unlink(missing_ok=True)
    return hold


def held_packets(store: Store, incident_id: str) -> bytes | None:
    """The pcap preserved when the hold was placed, or None."""
    path = _held_copy(store, incident_id)
    try:
        sealed = path.read_bytes()
    except FileNotFoundError:
        return None
    return _cipher(store).open(path.name, sealed)


def held_flow_keys(connection) -> list[str]:
    """`agent_id NUL uid` of every evidence flow of an alert of a held incident: what the flow log keeps."""
    rows = connection.execute(
        "SELECT t.content FROM decision_traces t JOIN incident_alerts a ON a.alert_id = t.alert_id "
        "JOIN legal_holds h ON h.incident_id = a.incident_id").fetchall()
    keys = set()
    for (content,) in rows:
        trace = json.loads(content)
        agent_id = trace.get("batch", {}).get("agent_id", "")
        keys.update(f"{agent_id}\0{uid}" for uid in trace.get("evidence_flow_uids", []))
    return sorted(keys)


def _preserve_packets(store: Store, incident_id: str) -> packets.Extract | None:
    alert_ids = [row["alert_id"] for row in store.query(
        "SELECT alert_id FROM incident_alerts WHERE incident_id = ?", (incident_id,))]
    flows = packets.alert_flows(store, alert_ids)
    if not flows:
        return None
    extract = packets.extract(store, flows, HELD_PADDING_S)
    if not extract.packets:
        return extract
    path = _held_copy(store, incident_id)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_bytes(_cipher(store).seal(path.name, extract.pcap))
    temporary.replace(path)
    return extract


def _held_copy(store: Store, incident_id: str):
    return store.data_dir.packets / HELD_DIRECTORY / f"{packets.file_name(incident_id)}.pcap.sealed"


def _cipher(store: Store) -> SegmentCipher:
    return SegmentCipher(store.derived_key(packets.KEY_PURPOSE), HELD_DIRECTORY)
