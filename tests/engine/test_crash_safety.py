"""Kill the engine process at arbitrary points: after a restart, nothing is lost and nothing is doubled."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from appliance.engine.local_sensor import queue_capture_files
from appliance.store import keys
from appliance.store.database import Store
from tests.conftest import PCAPS

CAPTURES = [
    PCAPS / name
    for name in (
        "arp-scan.pcap",
        "dns-tunnel-txt.pcap",
        "modbus.pcap",
        "kerberoast.pcap",
        "ftp-cleartext-login.pcap",
        "icmp-portscan.pcap",
        "dnp3-write.pcap",
    )
]


def queue_many_batches(store) -> None:
    for index, capture in enumerate(CAPTURES * 3):
        queue_capture_files(store, [capture], agent_id=f"sensor-{index}")


def run_engine(data_dir, kill_after: float | None) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "appliance", "engine", "--data-dir", str(data_dir.root), "--once"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    if kill_after is None:
        assert process.wait(timeout=120) == 0, process.stderr.read()
        return
    time.sleep(kill_after)
    os.kill(process.pid, signal.SIGKILL)
    process.wait()


@pytest.mark.e2e
def test_sigkill_mid_stream_loses_and_duplicates_nothing(store, data_dir):
    queue_many_batches(store)
    total_batches = store.query_one("SELECT count(*) AS n FROM ingest_batches")["n"]
    store.close()
    for delay in (1.0, 1.5, 2.0):  # process start-up takes about a second; kill at different points after it
        run_engine(data_dir, kill_after=delay)
    run_engine(data_dir, kill_after=None)
    reopened = Store(data_dir, keys.load_key(data_dir))
    try:
        assert reopened.query_one("SELECT count(*) AS n FROM ingest_batches WHERE done = 1")["n"] == total_batches
        # Each capture was queued three times by different sensors: every incident is raised exactly once per
        # distinct incident key, never twice.
        raised = reopened.query(
            "SELECT incident_key, count(*) AS n FROM decision_traces "
            "WHERE outcome = 'alert_raised' GROUP BY incident_key"
        )
        assert raised and all(row["n"] == 1 for row in raised)
        alerts = reopened.query_one("SELECT count(*) AS n FROM alerts")["n"]
        assert alerts == len(raised)
        seqs = [row["seq"] for row in reopened.query("SELECT seq FROM decision_traces ORDER BY seq")]
        assert seqs == list(range(1, len(seqs) + 1))
    finally:
        reopened.close()
