"""Retention (issue 12): each kind goes by age, the hash chains stay verifiable behind their anchors, the evidence
of an open incident stays, and the engine service prunes. Real captures through the real engine, a real store."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import apsw
import pytest

from appliance.audit import log as audit
from appliance.audit.log import ChainVerifier, verify_chain
from appliance.engine.process import Engine
from appliance.evidence import flow_log, retention
from appliance.evidence.flow_log import FlowQuery
from appliance.evidence.retention import DAY, RetentionSettings
from appliance.ingest.local_sensor import queue_capture_files
from appliance.siem.cursor import START, ExportCursor
from appliance.siem.events import MAX_PAGE, read_page
from appliance.traces.chain import proof_trail
from appliance.traces.verify import verify_proof_trail
from sensor.records import decode_batch
from tests.conftest import PCAPS, tamper_with_audit_log

ALERTING = ["kerberoast.pcap", "dns-tunnel-txt.pcap", "modbus.pcap", "ftp-cleartext-login.pcap"]


def counts(store) -> dict[str, int]:
    return {table: store.query_one(f"SELECT count(*) AS n FROM {table}")["n"]
            for table in ("flow_log", "flow_log_addresses", "event_log", "decision_traces", "audit_log")}


def test_flows_and_events_older_than_their_retention_go(store, analyse, monkeypatch):
    monkeypatch.setattr(retention, "CHUNK", 7)  # many small transactions, as on a busy box
    for number, name in enumerate(["tls-handshake.pcap", "dns-tunnel-txt.pcap", "icmp-portscan.pcap"]):
        analyse(PCAPS / name, agent_id=f"sensor-{number}")
    starts = sorted(row["ts_start"] for row in store.query("SELECT ts_start FROM flow_log"))
    cutoff = starts[len(starts) // 2]
    before = counts(store)
    events_kept = store.query_one("SELECT count(*) AS n FROM event_log WHERE ts >= ?", (cutoff,))["n"]

    pruned = retention.prune(store, RetentionSettings(flows_days=1, traces_days=36500, audit_log_days=36500),
                             now=cutoff + DAY)

    after = counts(store)
    assert pruned.flows == sum(1 for start in starts if start < cutoff) == before["flow_log"] - after["flow_log"] > 7
    assert store.query_one("SELECT min(ts_start) AS t FROM flow_log")["t"] >= cutoff
    assert after["event_log"] == events_kept and pruned.events == before["event_log"] - events_kept > 0
    # every address row belongs to a flow still there, and every flow kept is found by both its addresses
    assert store.query_one("SELECT count(*) AS n FROM flow_log_addresses a LEFT JOIN flow_log f "
                           "ON f.id = a.flow_id WHERE f.id IS NULL")["n"] == 0
    expected = sum(len({row["src_ip"], row["dst_ip"]}) for row in store.query("SELECT src_ip, dst_ip FROM flow_log"))
    assert after["flow_log_addresses"] == expected
    assert after["decision_traces"] == before["decision_traces"]  # other kinds keep their own retention
    everything = flow_log.search_flows(store.connection(), FlowQuery(since=0))
    assert everything.total == after["flow_log"]
    assert retention.prune(store, RetentionSettings(flows_days=1), now=cutoff + DAY).flows == 0  # nothing twice


def test_traces_are_pruned_oldest_first_behind_a_signed_anchor(store, analyse, api, admin_headers):
    for name in ALERTING:
        analyse(PCAPS / name)
    traces = store.query("SELECT seq, alert_id FROM decision_traces ORDER BY seq")
    assert len(traces) >= 4
    kept_alert = next(trace["alert_id"] for trace in traces[1:-1] if trace["alert_id"])
    kept_seq = min(trace["seq"] for trace in traces if trace["alert_id"] == kept_alert)
    incident = api.post("/compliance/incidents", headers=admin_headers, json={
        "title": "still being handled", "alert_ids": [kept_alert], "aware_at": time.time()})
    assert incident.status_code == 201, incident.text

    everything_old = time.time() + 2 * DAY
    pruned = retention.prune(store, RetentionSettings(traces_days=1), now=everything_old)

    remaining = [row["seq"] for row in store.query("SELECT seq FROM decision_traces ORDER BY seq")]
    assert remaining[0] == kept_seq and pruned.traces == kept_seq - traces[0]["seq"]  # the open incident's stay
    anchor = store.query_one("SELECT through_id, hash, pruned FROM chain_anchors WHERE chain = 'decision_traces'")
    assert anchor["through_id"] == kept_seq - 1 and anchor["pruned"] == pruned.traces
    first = store.query_one("SELECT previous_hash FROM decision_traces WHERE seq = ?", (kept_seq,))
    assert first["previous_hash"] == anchor["hash"]
    assert store.query_one("SELECT count(*) AS n FROM trace_search WHERE rowid < ?", (kept_seq,))["n"] == 0
    for row in store.query("SELECT id FROM decision_traces"):
        assert verify_proof_trail(proof_trail(store.connection(), row["id"])) == []

    api.put(f"/compliance/incidents/{incident.json()['id']}", json={"status": "resolved"}, headers=admin_headers)
    retention.prune(store, RetentionSettings(traces_days=1), now=everything_old)
    head = store.query("SELECT seq, id FROM decision_traces")
    assert [row["seq"] for row in head] == [traces[-1]["seq"]]  # the newest stays: the next decision links to it
    analyse(PCAPS / "icmp-portscan.pcap")  # the chain goes on from the kept head
    for row in store.query("SELECT id FROM decision_traces"):
        assert verify_proof_trail(proof_trail(store.connection(), row["id"])) == []


def test_the_audit_log_is_pruned_behind_an_anchor_and_stays_verifiable(store):
    old = time.time() - 40 * DAY
    for number in range(6):
        audit.record(store, username="admin", source_ip="10.0.0.1", action="old.thing", target=str(number),
                     now=old + number)
    for number in range(3):
        audit.record(store, username="admin", source_ip="10.0.0.1", action="recent.thing", target=str(number))
    verifier = ChainVerifier()
    assert verifier.verify(store)[0]

    pruned = retention.prune(store, RetentionSettings(audit_log_days=30))

    assert pruned.audit_log == 6
    actions = [row["action"] for row in store.query("SELECT action FROM audit_log ORDER BY id")]
    assert actions == ["recent.thing"] * 3 + ["retention.pruned"]
    assert verify_chain(store)[0] and verifier.verify(store)[0] and ChainVerifier().verify(store)[0]
    with pytest.raises(apsw.ConstraintError, match="append-only"):
        store.execute("DELETE FROM audit_log WHERE action = 'recent.thing'")
    with pytest.raises(apsw.ConstraintError, match="append-only"):
        store.execute("DELETE FROM chain_anchors")

    kept = store.query_one("SELECT id FROM audit_log WHERE action = 'recent.thing' ORDER BY id LIMIT 1")["id"]
    tamper_with_audit_log(store, "UPDATE audit_log SET username = 'nobody' WHERE id = ?", (kept,))
    assert verify_chain(store)[:2] == (False, kept)


def test_retention_settings_through_the_api(store, api, admin_headers):
    from appliance.auth import users
    from tests.conftest import ADMIN_PASSWORD, login

    defaults = {"flows_days": 30, "traces_days": 730, "audit_log_days": 730, "packets_max_mb": 2048,
                "evidence_disk_percent": 50}
    assert api.get("/settings/retention", headers=admin_headers).json() == defaults
    changed = api.put("/settings/retention", json={"flows_days": 7}, headers=admin_headers)
    assert changed.status_code == 200, changed.text
    assert changed.json() == defaults | {"flows_days": 7}
    assert retention.load_settings(store).flows_days == 7
    bad = api.put("/settings/retention", json={"flows_days": 0}, headers=admin_headers)
    assert bad.status_code == 400 and "flows_days" in bad.json()["detail"]
    greedy = api.put("/settings/retention", json={"evidence_disk_percent": 99}, headers=admin_headers)
    assert greedy.status_code == 400 and "evidence_disk_percent" in greedy.json()["detail"]
    unknown = api.put("/settings/retention", json={"packets_days": 3}, headers=admin_headers)
    assert unknown.status_code == 400 and "packets_days" in unknown.json()["detail"]
    users.create_user(store, "watcher", ADMIN_PASSWORD, "viewer")
    viewer = login(api, "watcher")
    assert api.get("/settings/retention", headers=viewer).status_code == 200
    assert api.put("/settings/retention", json={"flows_days": 1}, headers=viewer).status_code == 403
    [entry] = [entry for entry in api.get("/settings/audit-log", headers=admin_headers).json()["entries"]
               if entry["action"] == "retention.updated"]
    assert entry["details"] == {"flows_days": 7}


def test_the_engine_service_prunes(store, data_dir):
    audit.record(store, username="admin", source_ip="10.0.0.1", action="old.thing", now=time.time() - 10 * DAY)
    audit.record(store, username="admin", source_ip="10.0.0.1", action="recent.thing")
    retention.save_settings(store, RetentionSettings(audit_log_days=5))
    engine = subprocess.run([sys.executable, "-m", "appliance", "engine", "--data-dir", str(data_dir.root), "--once"],
                            capture_output=True, text=True, timeout=120)
    assert engine.returncode == 0, engine.stderr
    assert store.query_one("SELECT pruned FROM chain_anchors WHERE chain = 'audit_log'")["pruned"] >= 1
    assert store.query_one("SELECT count(*) AS n FROM audit_log WHERE action = 'old.thing'")["n"] == 0
    assert verify_chain(store)[0]


def test_old_batches_the_checkpoint_covers_lose_their_records(store, analyse, scorer):
    analyse(PCAPS / "dns-tunnel-txt.pcap", agent_id="sensor-1")
    analyse(PCAPS / "kerberoast.pcap", agent_id="sensor-2")
    covered = {row["id"] for row in store.query("SELECT id FROM ingest_batches")}
    stats = {row["id"]: decode_batch(row["payload"]).stats
             for row in store.query("SELECT id, payload FROM ingest_batches")}
    queue_capture_files(store, [PCAPS / "icmp-portscan.pcap"], agent_id="sensor-3")
    uncheckpointed = Engine(store, scorer, checkpoint_batches=10**6, checkpoint_seconds=10**9)
    assert uncheckpointed.process_pending() > 0  # done, but after the engine's checkpoint
    later = {row["id"] for row in store.query("SELECT id FROM ingest_batches")} - covered
    traces = counts(store)["decision_traces"]

    pruned = retention.prune(store, RetentionSettings(flows_days=1), now=time.time() + 2 * DAY)

    assert pruned.batches == len(covered)
    for row in store.query("SELECT id, agent_id, seq, payload FROM ingest_batches"):
        batch = decode_batch(row["payload"])
        assert (batch.agent_id, batch.seq) == (row["agent_id"], row["seq"])
        if row["id"] in covered:
            assert batch.flows == [] and batch.events == [] and batch.stats == stats[row["id"]]
        else:
            assert batch.flows  # a restart replays these through the rules: they stay whole
    Engine(store, scorer).process_all()  # restores the checkpoint and replays what came after it
    assert counts(store)["decision_traces"] == traces
    assert store.query_one("SELECT count(*) AS n FROM ingest_batches WHERE failed_at IS NOT NULL")["n"] == 0
    exported = read_page(store, ExportCursor.parse(START), frozenset({"flows", "protocol_events"}), MAX_PAGE)
    assert exported.records and {record.agent_id for record in exported.records} == {"sensor-3"}
    assert {record.cursor.batch_id for record in exported.records} <= later
    # the restart's checkpoint covers the later batches now: they go too, and nothing is emptied twice
    assert retention.prune(store, RetentionSettings(flows_days=1), now=time.time() + 2 * DAY).batches == len(later)
    assert retention.prune(store, RetentionSettings(flows_days=1), now=time.time() + 2 * DAY).batches == 0


def test_over_its_disk_share_the_evidence_loses_its_oldest_flows_first(store, analyse, monkeypatch):
    monkeypatch.setattr(retention, "CHUNK", 50)
    for number, name in enumerate(["dhcp-request-flood.pcap", "dns-tunnel-txt.pcap", "icmp-portscan.pcap",
                                   "arp-scan.pcap"]):
        analyse(PCAPS / name, agent_id=f"sensor-{number}")

    def times() -> tuple[list[float], list[float]]:
        return ([row["ts_start"] for row in store.query("SELECT ts_start FROM flow_log ORDER BY ts_start, id")],
                [row["ts"] for row in store.query("SELECT ts FROM event_log ORDER BY ts, id")])

    flows_before, events_before = times()
    allowed = retention.evidence_bytes(store) - 64 * 1024  # the disk shrank under it, or the admin lowered its share

    pruned = retention.prune(store, RetentionSettings(flows_days=36500, evidence_disk_percent=50),
                             disk_bytes=allowed * 2)

    assert retention.evidence_bytes(store) <= allowed and pruned.disk_share_rounds > 0
    flows, events = times()
    assert 0 < len(events) < len(events_before) and flows
    assert flows == flows_before[len(flows_before) - len(flows):]  # the newest stay, the oldest went
    assert events == events_before[len(events_before) - len(events):]
    assert (pruned.flows, pruned.events) == (len(flows_before) - len(flows), len(events_before) - len(events))
    for row in store.query("SELECT id FROM decision_traces"):
        assert verify_proof_trail(proof_trail(store.connection(), row["id"])) == []
    assert verify_chain(store)[0]
    [entry] = [row for row in store.query("SELECT details FROM audit_log WHERE action = 'retention.pruned'")]
    assert json.loads(entry["details"])["disk_share_rounds"] == pruned.disk_share_rounds
