"""How the engine decides: one alert per incident, whitelist and analyst verdicts, traces for everything."""

from __future__ import annotations

import json
import struct
import time

from appliance.engine.process import Engine
from appliance.ingest.local_sensor import queue_capture_files
from appliance.traces.chain import proof_trail
from appliance.traces.verify import verify_proof_trail
from appliance.whitelist.models import WhitelistIn
from appliance.whitelist.repository import add_entry
from tests.conftest import PCAPS


def outcomes(store) -> dict[str, int]:
    return {
        row["outcome"]: row["n"]
        for row in store.query("SELECT outcome, count(*) AS n FROM decision_traces GROUP BY outcome")
    }


def test_a_long_sweep_is_one_alert_updated_while_it_lasts(analyse, store):
    analyse(PCAPS / "arp-scan.pcap")
    alerts = store.query("SELECT id, evidence, first_seen, last_seen, incident_key FROM alerts")
    assert len(alerts) == 1
    counts = outcomes(store)
    assert counts["alert_raised"] == 1 and counts.get("alert_updated", 0) >= 1
    evidence = json.loads(alerts[0]["evidence"])
    assert alerts[0]["last_seen"] > alerts[0]["first_seen"] and evidence
    traced = store.query("SELECT DISTINCT alert_id FROM decision_traces WHERE alert_id IS NOT NULL")
    assert [row["alert_id"] for row in traced] == [alerts[0]["id"]]


def test_whitelisted_detections_are_traced_but_raise_nothing(analyse, store):
    add_entry(store, WhitelistIn(cidr="10.0.0.0/30", direction="source", comment="AD test lab"), "admin")
    analyse(PCAPS / "kerberoast.pcap")
    assert store.query("SELECT * FROM alerts") == []
    trace = store.query_one("SELECT content FROM decision_traces WHERE outcome = 'suppressed_whitelist'")
    content = json.loads(trace["content"])
    assert content["rule_name"] == "KERBEROASTING" and content["whitelist_entry"]["comment"] == "AD test lab"


def test_expired_whitelist_entries_do_not_suppress(analyse, store):
    add_entry(store, WhitelistIn(cidr="10.0.0.2", expires_at=int(time.time()) + 1), "admin")
    time.sleep(1.1)
    analyse(PCAPS / "kerberoast.pcap")
    assert [row["rule_name"] for row in store.query("SELECT rule_name FROM alerts")] == ["KERBEROASTING"]


def shifted_capture(source, destination, seconds: int):
    """The same classic-pcap capture, every packet `seconds` later: the same traffic on another day."""
    data = bytearray(source.read_bytes())
    byte_order = "<" if data[:4] in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1") else ">"
    offset = 24
    while offset + 16 <= len(data):
        ts_sec, _, captured, _ = struct.unpack_from(byte_order + "IIII", data, offset)
        struct.pack_into(byte_order + "I", data, offset, ts_sec + seconds)
        offset += 16 + captured
    destination.write_bytes(bytes(data))
    return destination


def test_a_false_positive_verdict_suppresses_look_alikes(analyse, store, tmp_path):
    analyse(PCAPS / "ftp-cleartext-login.pcap", agent_id="sensor-a")
    store.execute("UPDATE alerts SET status = 'false_positive'")
    next_day = shifted_capture(PCAPS / "ftp-cleartext-login.pcap", tmp_path / "next-day.pcap", 86400)
    analyse(next_day, agent_id="sensor-b")  # the same login from the same host, a day later
    assert store.query_one("SELECT count(*) AS n FROM alerts")["n"] == 1
    assert outcomes(store).get("suppressed_false_positive") == 1


def test_the_same_incident_seen_again_updates_its_alert(analyse, store):
    analyse(PCAPS / "ftp-cleartext-login.pcap", agent_id="sensor-a")
    analyse(PCAPS / "ftp-cleartext-login.pcap", agent_id="sensor-b")  # a second sensor on the same mirror
    assert store.query_one("SELECT count(*) AS n FROM alerts")["n"] == 1
    assert outcomes(store) == {"alert_raised": 1, "alert_updated": 1}


def test_every_trace_verifies_and_the_chain_is_contiguous(analyse, store):
    analyse(PCAPS / "dns-tunnel-txt.pcap", PCAPS / "modbus.pcap")
    rows = store.query("SELECT id, seq FROM decision_traces ORDER BY seq")
    assert [row["seq"] for row in rows] == list(range(1, len(rows) + 1))
    for row in rows:
        trail = proof_trail(store.connection(), row["id"])
        assert verify_proof_trail(trail) == []
        assert trail["trace"]["content"]["model"]["sha256"]


def test_the_batch_and_its_decisions_commit_together(analyse, store):
    analyse(PCAPS / "icmp-portscan.pcap")
    assert store.query_one("SELECT count(*) AS n FROM ingest_batches WHERE done = 0")["n"] == 0
    baseline = store.query_one("SELECT length(value) AS n FROM engine_state WHERE key = 'baseline'")
    assert baseline["n"] > 0


def test_the_baseline_is_rewritten_only_when_it_changed(store, scorer, tmp_path):
    """While learning every batch changes it; once learned, the same hosts doing the same things change
    nothing, and the engine leaves the stored baseline alone instead of rewriting it per batch."""
    store.set_setting("engine", {"site": {"learning_period_s": 60}})
    capture = PCAPS / "icmp-and-ssh.pcap"
    store.execute("CREATE TEMP TABLE baseline_writes (n INTEGER)")
    store.execute("CREATE TEMP TRIGGER count_baseline_writes AFTER UPDATE ON main.engine_state "
                  "BEGIN INSERT INTO baseline_writes VALUES (1); END")

    def writes_while_analysing(path) -> int:
        before = store.query_one("SELECT count(*) AS n FROM baseline_writes")["n"]
        queue_capture_files(store, [path], agent_id="local")
        Engine(store, scorer).process_all()
        return store.query_one("SELECT count(*) AS n FROM baseline_writes")["n"] - before

    writes_while_analysing(capture)  # learning starts
    assert writes_while_analysing(shifted_capture(capture, tmp_path / "day-2.pcap", 86400)) >= 1  # learning ends
    stored = store.query_one("SELECT value FROM engine_state WHERE key = 'baseline'")["value"]
    assert writes_while_analysing(shifted_capture(capture, tmp_path / "day-3.pcap", 2 * 86400)) == 0
    assert store.query_one("SELECT value FROM engine_state WHERE key = 'baseline'")["value"] == stored
