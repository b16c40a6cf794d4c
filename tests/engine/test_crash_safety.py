"""Kill the engine process at random points: restarted until the queue is done, it has decided exactly what an
uninterrupted run decides, alert for alert, and no decision twice."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from appliance.ingest.queue import enqueue_records
from appliance.simulate import scenarios
from appliance.store import keys
from appliance.store.data_dir import DataDirectory
from appliance.store.database import Store
from sensor.pipeline import Pipeline
from sensor.records import Batch
from sensor.shipping.batching import split_drain

RECORDS_PER_BATCH = 150  # ~140 batches: many points to die at
CHECKPOINT_EVERY = 5  # batches: restarts restore checkpoints and replay the batches after them
SIGKILLS = 4
ALERT_FIELDS = "incident_key, rule_name, source_ip, dest_ip, first_seen, last_seen, score, evidence"


def queue_mixed_scenario(store: Store, tmp_path: Path) -> int:
    """Three minutes of the simulated office with every attack family (a beacon's rhythm must last two), the
    baseline learning for the first half minute (so its forest, NEW_DEVICE and ANOMALOUS_PAYLOAD are part of
    what must survive)."""
    store.set_setting("engine", {"site": {"learning_period_s": 30}})
    pcap = tmp_path / "mixed.pcap"
    scenarios.write("mixed", pcap, seed=3, duration=180)
    pipeline = Pipeline()
    pipeline.feed_file(pcap)
    drained = pipeline.close()
    parts = list(split_drain(drained.flows, drained.events, drained.stats, RECORDS_PER_BATCH))
    with store.write_transaction() as connection:
        for seq, (flows, events, stats) in enumerate(parts):
            enqueue_records(connection, Batch(agent_id="sensor-1", seq=seq, sent_at=0.0, flows=flows, events=events,
                                              stats=stats))
    return len(parts)


def engine(data_dir: DataDirectory, *options: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "appliance", "engine", "--data-dir", str(data_dir.root), "--poll-interval", "0.05",
         *options],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def done_batches(store: Store) -> int:
    return store.query_one("SELECT count(*) AS n FROM ingest_batches WHERE done = 1")["n"]


def run_until_progress(data_dir: DataDirectory, watcher: Store, rng: random.Random, total: int, signum: int) -> int:
    """Starts the engine, lets it finish 1-12 more batches, then sends `signum` a few ms later: into the middle
    of a batch, a commit or a checkpoint. Returns the process's exit code."""
    process = engine(data_dir, "--checkpoint-batches", str(CHECKPOINT_EVERY))
    target = min(done_batches(watcher) + rng.randint(1, 12), total)
    while done_batches(watcher) < target and process.poll() is None:
        time.sleep(0.01)
    time.sleep(rng.uniform(0, 0.03))
    process.send_signal(signum)
    _, errors = process.communicate(timeout=120)
    assert signum == signal.SIGKILL or process.returncode == 0, errors.decode()
    return process.returncode


def decisions(data_dir: DataDirectory) -> tuple[list[dict], list[tuple], int]:
    store = Store(data_dir, keys.load_key(data_dir))
    try:
        alerts = store.query(f"SELECT {ALERT_FIELDS} FROM alerts ORDER BY incident_key")
        outcomes = sorted(
            (row["incident_key"], row["outcome"])
            for row in store.query("SELECT incident_key, outcome FROM decision_traces")
        )
        seqs = [row["seq"] for row in store.query("SELECT seq FROM decision_traces ORDER BY seq")]
        assert seqs == list(range(1, len(seqs) + 1))  # one unbroken chain
        pending = store.query_one("SELECT count(*) AS n FROM ingest_batches WHERE done = 0")["n"]
        assert pending == 0
        return alerts, outcomes, len(seqs)
    finally:
        store.close()


@pytest.mark.e2e
def test_killed_at_random_points_the_engine_decides_exactly_as_an_uninterrupted_run(store, data_dir, tmp_path):
    total = queue_mixed_scenario(store, tmp_path)
    store.close()
    reference = DataDirectory.at(tmp_path / "reference")
    shutil.copytree(data_dir.root, reference.root)
    clean = engine(reference, "--once")
    assert clean.wait(timeout=600) == 0, clean.stderr.read().decode()

    seed = int.from_bytes(os.urandom(4), "big")
    rng = random.Random(seed)
    watcher = Store(data_dir, keys.load_key(data_dir))
    try:
        for signum in [signal.SIGKILL] * SIGKILLS + [signal.SIGTERM]:
            run_until_progress(data_dir, watcher, rng, total, signum)
        assert done_batches(watcher) < total, "the engine finished before it was stopped the last time"
        last = engine(data_dir, "--once", "--checkpoint-batches", str(CHECKPOINT_EVERY))
        assert last.wait(timeout=600) == 0, last.stderr.read().decode()
        attempts = watcher.query_one("SELECT max(attempts) AS n, count(failed_at) AS failed FROM ingest_batches")
        # every start restored the checkpoint: none was discarded, no replay failed, no batch was set aside
        reports = watcher.query("SELECT action FROM audit_log WHERE username = 'engine'")
    finally:
        watcher.close()

    expected_alerts, expected_outcomes, expected_traces = decisions(reference)
    alerts, outcomes, traces = decisions(data_dir)
    rules = {alert["rule_name"] for alert in expected_alerts}
    assert {"C2_BEACON", "ARP_SPOOFING", "BRUTE_FORCE", "NEW_DEVICE"} <= rules, rules
    assert attempts["failed"] == 0 and attempts["n"] <= 2 and reports == [], f"seed {seed}: {reports}"
    assert alerts == expected_alerts, f"seed {seed}"
    assert outcomes == expected_outcomes, f"seed {seed}"
    assert traces == expected_traces, f"seed {seed}"
