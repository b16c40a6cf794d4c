"""The engine never stops on one batch and never stores what it cannot read back: batches stored before ingest
checked values, odd values real captures give, batches that fail or kill the process, a poisoned baseline and
a checkpoint it cannot use."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import msgspec
import pytest

from appliance.cli.main import main as appliance
from appliance.engine.baseline import Baseline
from appliance.engine.network import SiteConfig
from appliance.engine.process import Engine
from appliance.engine.rules import RuleSet
from appliance.ingest.local_sensor import queue_capture_files
from appliance.ingest.queue import enqueue
from appliance.store import lifecycle
from appliance.store.data_dir import DataDirectory
from appliance.store.database import Store
from tests.conftest import PCAPS

T0 = 1_700_000_000.0
SURICATA_VERIFY = PCAPS / "suricata-verify"


def flow(uid: str, ts: float, **fields) -> dict:
    """A flow as the wire carries it: a refused SYN from the scanner 10.0.0.66 unless told otherwise."""
    return {
        "uid": uid, "ts_start": ts, "ts_end": ts + 0.001, "proto": "TCP", "src_ip": "10.0.0.66",
        "dst_ip": "10.0.0.9", "src_port": 40000, "dst_port": 80, "pkts_orig": 1, "pkts_resp": 1,
        "bytes_orig": 44, "bytes_resp": 40, "conn_state": "REJ", "history": "Sr", "syn": 1, "rst": 1,
        "tcp_flags_orig": 2,
    } | fields


def queue_raw(store: Store, seq: int, flows: list[dict] = (), events: list[dict] = (), payload: bytes | None = None):
    """A batch put straight into the queue, as ingest stored anything before it checked values."""
    batch = {"agent_id": "old-sensor", "seq": seq, "sent_at": 0.0, "flows": list(flows), "events": list(events)}
    with store.write_transaction() as connection:
        enqueue(connection, "old-sensor", seq, msgspec.msgpack.encode(batch) if payload is None else payload)


def run_engine(store: Store, scorer) -> Engine:
    engine = Engine(store, scorer)
    engine.process_all()
    return engine


def audit_details(store: Store, action: str) -> list[dict]:
    rows = store.query("SELECT details FROM audit_log WHERE action = ? ORDER BY id", (action,))
    return [json.loads(row["details"]) for row in rows]


def stored_baseline_reads_back(store: Store) -> bool:
    stored = store.query_one("SELECT value FROM engine_state WHERE key = 'baseline'")
    return Baseline.from_bytes(stored["value"], SiteConfig()) is not None


def test_values_no_sensor_sends_never_halt_detection(store, scorer):
    """A batch stored before ingest checked values, holding every value the issue names: its bad records are
    dropped and counted, its good ones and every batch behind it are processed, nothing bad is learned."""
    queue_raw(
        store,
        1,
        flows=[
            flow("F-negative-bytes", T0, bytes_orig=-1),
            flow("F-negative-packets", T0, pkts_orig=-3),
            flow("F-nan-time", float("nan")),
            flow("F-huge-port", T0, dst_port=2**64 - 1),
            flow("F-infinite-end", T0, ts_end=float("inf")),
            flow("F-nan-size", T0, size_mean=float("nan")),
            flow("F-good", T0 + 1),
        ],
        events=[{"kind": "dns", "ts": float("inf"), "query": "example.org"}],
    )
    queue_capture_files(store, [PCAPS / "kerberoast.pcap"], agent_id="sensor-b")
    run_engine(store, scorer)
    batches = store.query("SELECT done, failed_at FROM ingest_batches")
    assert batches and all(row["done"] == 1 and row["failed_at"] is None for row in batches)
    [dropped] = audit_details(store, "engine.records_dropped")
    assert dropped["dropped"] == 7 and "bytes_orig" in dropped["first_problem"]
    assert [row["rule_name"] for row in store.query("SELECT rule_name FROM alerts")] == ["KERBEROASTING"]
    assert stored_baseline_reads_back(store)
    Engine(store, scorer)  # and the engine starts again


def test_odd_values_real_captures_give_are_taken_in_stride(store, scorer):
    """They pass ingest (our own sensor sends them when a capture's clock steps back, and a pcapng may carry
    any time): the engine copes instead of failing the batch."""
    store.set_setting("engine", {"site": {"business_hours": {"timezone": "Pacific/Kiritimati"}}})  # UTC+14
    queue_raw(
        store,
        1,
        flows=[
            flow("F-clock-stepped-back", 1429518024.03, ts_end=761195582.03, iat_mean=-668322441.99,
                 iat_min=-668322441.99, iat_max=-1.0, pkts_orig=2),
            flow("F-far-future", 1e300, ts_end=1.5e300, dst_ip="198.51.100.7"),  # business hours are asked
            flow("F-before-the-epoch", -5.0),
            flow("F-huge-iat", T0, iat_mean=1e307, size_mean=1e307),
        ],
        events=[{"kind": "arp", "ts": -1e300, "op": 2, "sender_ip": "10.0.0.1", "sender_mac": "02:00:00:00:00:01"}],
    )
    run_engine(store, scorer)
    assert store.query("SELECT done, failed_at FROM ingest_batches") == [{"done": 1, "failed_at": None}]
    assert audit_details(store, "engine.records_dropped") == []
    assert stored_baseline_reads_back(store)


def test_analyze_takes_captures_whose_clock_steps_back():
    """Each of these three makes the sensor report a flow with a negative inter-arrival time."""
    captures = [
        SURICATA_VERIFY / "bug-1450-04" / "tls_DER-incomplete-header.pcap",
        SURICATA_VERIFY / "bug-1450-05" / "tls_DER-incomplete-content.pcap",
        SURICATA_VERIFY / "transform-base64-7296" / "input.pcap",
    ]
    assert appliance(["analyze", *map(str, captures)]) == 0


def test_a_batch_that_fails_is_set_aside_and_the_engine_goes_on(store, scorer):
    queue_raw(store, 1, payload=b"\x93 not a batch")
    queue_capture_files(store, [PCAPS / "kerberoast.pcap"], agent_id="sensor-b")
    run_engine(store, scorer)
    failed = store.query("SELECT agent_id, attempts, error FROM ingest_batches WHERE failed_at IS NOT NULL")
    assert len(failed) == 1 and failed[0]["agent_id"] == "old-sensor" and failed[0]["attempts"] == 1
    assert failed[0]["error"].startswith("DecodeError")
    [entry] = audit_details(store, "engine.batch_set_aside")
    assert entry["error"] == failed[0]["error"]
    assert [row["rule_name"] for row in store.query("SELECT rule_name FROM alerts")] == ["KERBEROASTING"]


def scan_batches(store: Store, with_failing_batch: bool) -> None:
    """A port scan over three batches; the middle one (more ports, then a flow the rules choke on) fails."""
    queue_raw(store, 1, flows=[flow(f"A{port}", T0 + port, dst_port=port) for port in range(1, 21)])
    if with_failing_batch:
        probes = [flow(f"B{port}", T0 + port, dst_port=port) for port in range(100, 131)]
        queue_raw(store, 2, flows=[*probes, flow("BOOM", T0 + 200, dst_port=9)])
    queue_raw(store, 3, flows=[flow(f"C{port}", T0 + 40 + port, dst_port=port) for port in range(21, 71)])


def test_after_a_failed_batch_the_rules_go_on_as_if_it_never_came(store, scorer, tmp_path, monkeypatch):
    """The failing batch had fed half its records to the rules: they are rewound to before it."""
    original = RuleSet.on_flow

    def on_flow(self, record):
        if record.uid == "BOOM":
            raise RuntimeError("a rule chokes on this flow")
        return original(self, record)

    monkeypatch.setattr(RuleSet, "on_flow", on_flow)
    scan_batches(store, with_failing_batch=True)
    run_engine(store, scorer)
    other = DataDirectory.at(tmp_path / "without")
    without = Store(other, lifecycle.create_database(other))
    try:
        scan_batches(without, with_failing_batch=False)
        run_engine(without, scorer)
        expected = without.query("SELECT incident_key, evidence, first_seen, last_seen FROM alerts")
    finally:
        without.close()
    assert store.query_one("SELECT error FROM ingest_batches WHERE seq = 2")["error"] == (
        "RuntimeError: a rule chokes on this flow"
    )
    alerts = store.query("SELECT incident_key, evidence, first_seen, last_seen FROM alerts")
    # reported when the 60th port was probed: port 60, not port 29 as it would be had batch 2's ports counted
    assert json.loads(alerts[0]["evidence"])["distinct_ports"] == 60 and alerts[0]["last_seen"] == T0 + 100.001
    assert alerts == expected


KILLED_BY_A_FLOW = textwrap.dedent(
    """
    import os, signal, sys
    from appliance.engine.rules import RuleSet
    from appliance.cli.main import main

    original = RuleSet.on_flow

    def on_flow(self, record):
        if record.uid == "SEGFAULT":  # what a crash in a C extension does to the process
            os.kill(os.getpid(), signal.SIGSEGV)
        return original(self, record)

    RuleSet.on_flow = on_flow
    sys.exit(main(["engine", "--data-dir", sys.argv[1], "--once"]))
    """
)


def test_a_batch_that_kills_the_engine_process_is_set_aside_after_three_attempts(store, data_dir):
    queue_raw(store, 1, flows=[flow("SEGFAULT", T0)])
    queue_raw(store, 2, flows=[flow(f"P{port}", T0 + port, dst_port=port) for port in range(1, 21)])
    store.close()
    codes = [
        subprocess.run([sys.executable, "-c", KILLED_BY_A_FLOW, str(data_dir.root)], capture_output=True).returncode
        for _ in range(4)
    ]
    assert codes == [-11, -11, -11, 0]
    reopened = Store(data_dir, lifecycle.keys.load_key(data_dir))
    try:
        rows = reopened.query("SELECT seq, done, attempts, failed_at, error FROM ingest_batches ORDER BY seq")
        assert [(row["seq"], row["done"], row["attempts"]) for row in rows] == [(1, 0, 3), (2, 1, 1)]
        assert rows[0]["failed_at"] and "stopped 3 times" in rows[0]["error"]
        assert [row["rule_name"] for row in reopened.query("SELECT rule_name FROM alerts")] == ["PORT_SCAN"]
    finally:
        reopened.close()


def poisoned_baseline() -> bytes:
    """A baseline stored by an engine that learned a flow with size_mean=NaN (before this was refused)."""
    baseline = Baseline(SiteConfig())
    baseline.observe_flow(msgspec.convert(flow("F", T0), type=__import__("sensor.records").records.Flow))
    state = msgspec.msgpack.decode(baseline.to_bytes())
    state["profiles"]["10.0.0.66"][1][6] = float("nan")
    return msgspec.msgpack.encode(state)


def test_a_stored_baseline_that_cannot_be_read_is_set_aside_not_fatal(store, scorer):
    poisoned = poisoned_baseline()
    store.execute("INSERT INTO engine_state (key, value) VALUES ('baseline', ?)", (poisoned,))
    queue_capture_files(store, [PCAPS / "kerberoast.pcap"])
    run_engine(store, scorer)
    assert store.query_one("SELECT value FROM engine_state WHERE key = 'baseline_set_aside'")["value"] == poisoned
    [entry] = audit_details(store, "engine.baseline_set_aside")
    assert "non-number" in entry["error"]
    assert [row["rule_name"] for row in store.query("SELECT rule_name FROM alerts")] == ["KERBEROASTING"]
    assert stored_baseline_reads_back(store)


@pytest.mark.parametrize(
    "damage, reason",
    [("fingerprint = 'made by last year''s rules'", "other code or configuration"), ("rules = x'00'", "unreadable")],
    ids=["other-code", "corrupt"],
)
def test_a_checkpoint_the_engine_cannot_use_is_discarded_and_reported(store, scorer, damage, reason):
    queue_capture_files(store, [PCAPS / "ftp-cleartext-login.pcap"])
    engine = run_engine(store, scorer)
    store.execute(f"UPDATE engine_checkpoint SET {damage}")
    restarted = run_engine(store, scorer)
    [entry] = audit_details(store, "engine.checkpoint_discarded")
    assert reason in entry["reason"]
    # the fresh start is saved at once: the next start restores it without a word
    assert store.query_one("SELECT fingerprint FROM engine_checkpoint")["fingerprint"] == engine.fingerprint
    assert restarted.rules.baseline.started_at == engine.rules.baseline.started_at
    run_engine(store, scorer)
    assert len(audit_details(store, "engine.checkpoint_discarded")) == 1
