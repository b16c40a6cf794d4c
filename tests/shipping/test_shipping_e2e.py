"""A real sensor process (`sensor read --appliance`) shipping to a real appliance (Granian) that is killed
mid-stream and started again: every batch arrives exactly once."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest

from sensor.records import decode_batch
from tests.conftest import PCAPS

pytestmark = pytest.mark.e2e

AGENT = "e2e-sensor"


def delivered(store) -> list[int]:
    return [
        row["seq"] for row in store.query("SELECT seq FROM ingest_batches WHERE agent_id = ? ORDER BY seq", (AGENT,))
    ]


def test_killing_the_appliance_mid_stream_loses_and_duplicates_nothing(appliance, store, license_key, tmp_path):
    spool = tmp_path / "spool"
    sensor = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "sensor",
            "read",
            str(PCAPS / "dhcp-request-flood.pcap"),
            str(PCAPS / "dns-tunnel-txt.pcap"),
            "--json",
            "--appliance",
            appliance.url,
            "--license-key",
            license_key,
            "--agent-id",
            AGENT,
            "--spool-dir",
            str(spool),
            "--batch-records",
            "25",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while len(delivered(store)) < 20 and time.monotonic() < deadline and sensor.poll() is None:
            time.sleep(0.01)
        appliance.kill()
        at_kill = len(delivered(store))
        time.sleep(1.0)  # the sensor keeps reading and spooling meanwhile
        appliance.start()
        out, err = sensor.communicate(timeout=120)
    finally:
        if sensor.poll() is None:
            sensor.kill()
            sensor.wait()
    assert sensor.returncode == 0, err
    summary = json.loads(out)
    seqs = delivered(store)
    allocated = json.loads((spool / "state.json").read_text())["next_seq"]
    assert 20 <= at_kill < allocated, "the appliance must die while batches are still flowing"
    assert seqs == list(range(allocated))  # every batch, once, none skipped
    records = [
        decode_batch(row["payload"])
        for row in store.query("SELECT payload FROM ingest_batches WHERE agent_id = ?", (AGENT,))
    ]
    assert sum(len(b.flows) for b in records) == summary["flows"]
    assert sum(len(b.events) for b in records) == summary["events"] == 10_161
    assert not list(spool.glob("*.batch"))
    assert "0 dropped by the spool cap" in err
