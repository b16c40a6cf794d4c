"""Notifications under an alert storm (issue 11), with the engine as the peer in the same run.

1. Storm: 10,000 alerts (and their decision traces, as the engine leaves them) arrive over one minute while the
   real notifier service (`appliance notify`) runs with three channels: a signed JSON webhook, a Slack webhook
   and e-mail (aiosmtpd on loopback); digest window 60 s, 5 alerts sent one by one per window. We count the
   messages each receiver got, check that every alert is accounted for (sent alone or counted in a digest),
   and compare with the bound: max_immediate + one digest per window the storm touched (+1 for the tail).
2. Engine: the engine's batch throughput on the simulator's `mixed` office capture (500-record batches, as
   sensors ship them), on copies of one queued box, alternately without the notifier and with the notifier
   working through a backlog of 10,000 alerts to route, fold and deliver meanwhile. Medians of 3 each.

Writes tests/benchmarks/results/notifications.json.
"""

from __future__ import annotations

import contextlib
import email
import http.server
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from aiosmtpd.controller import Controller

from appliance.alerts.repository import insert_alert
from appliance.engine.process import Engine
from appliance.engine.scoring import Scorer
from appliance.ingest.queue import enqueue_records
from appliance.notifications import repository
from appliance.notifications.models import ChannelIn, Digest, EmailSettings, Routing, WebhookSettings
from appliance.simulate import scenarios
from appliance.store import keys, lifecycle
from appliance.store.data_dir import DataDirectory
from appliance.store.database import Store
from appliance.traces import chain
from sensor.pipeline import Pipeline
from sensor.records import Batch
from sensor.shipping.batching import split_drain
from tests.conftest import free_port

WORK = Path(__file__).parent / "work"
RESULTS = Path(__file__).parent / "results" / "notifications.json"
STORM_ALERTS = 10_000
STORM_SECONDS = 60.0
WINDOW_SECONDS = 60
MAX_IMMEDIATE = 5
RECORDS_PER_BATCH = 500
ROUNDS = 3


class Counting(http.server.BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        Counting.received.append({"path": self.path, "body": json.loads(body)})
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


class Mailbox:
    def __init__(self) -> None:
        self.received: list[bytes] = []

    async def handle_DATA(self, server, session, envelope):
        self.received.append(envelope.content)
        return "250 OK"


def new_box(root: Path) -> tuple[DataDirectory, Store]:
    data_dir = DataDirectory.at(root)
    store = Store(data_dir, lifecycle.create_database(data_dir))
    return data_dir, store


def add_channels(store: Store, hook_port: int, smtp_port: int) -> None:
    routing = Routing(min_severity="HIGH", digest=Digest(window_seconds=WINDOW_SECONDS, max_immediate=MAX_IMMEDIATE))
    for name, settings in (
        ("json", WebhookSettings(url=f"http://127.0.0.1:{hook_port}/json")),
        ("slack", WebhookSettings(url=f"http://127.0.0.1:{hook_port}/slack", format="slack")),
        ("mail", EmailSettings(host="127.0.0.1", port=smtp_port, security="none", from_address="box@example.org",
                               to=["soc@example.org"])),
    ):
        repository.create_channel(store, ChannelIn(name=name, settings=settings, routing=routing), "bench")


def write_alerts(store: Store, count: int, first: int, now: float) -> None:
    with store.write_transaction() as connection:
        for index in range(first, first + count):
            source = f"10.{index // 65536 % 256}.{index // 256 % 256}.{index % 256}"
            severity = "CRITICAL" if index % 50 == 0 else "HIGH"
            alert_id = insert_alert(connection, severity=severity, rule_name="PORT_SCAN", source_ip=source,
                                    dest_ip="10.255.0.1", port=None, protocol="TCP", score=0.9, timestamp=int(now),
                                    shap_json={"features": {"distinct_ports": 1.5}})
            connection.execute("UPDATE alerts SET incident_key = ?, first_seen = ?, last_seen = ? WHERE id = ?",
                               (f"storm-{index}", now, now, alert_id))
            chain.append(connection, {"outcome": "alert_raised", "rule_name": "PORT_SCAN", "severity": severity,
                                      "incident_key": f"storm-{index}", "alert_id": alert_id, "source_ip": source,
                                      "dest_ip": "10.255.0.1", "score": 0.9, "first_seen": now, "last_seen": now,
                                      "features": {"distinct_ports": 60.0},
                                      "shap": {"features": {"distinct_ports": 1.5}}, "batch": {"agent_id": "s"}})


def start_notifier(data_dir: DataDirectory, runtime: Path, log: Path) -> subprocess.Popen:
    environment = {**os.environ, "PYTHONPATH": str(ROOT), "NETSENX_RUNTIME_DIR": str(runtime)}
    with open(log, "ab") as output:
        return subprocess.Popen([sys.executable, "-m", "appliance", "notify", "--data-dir", str(data_dir.root),
                                 "--poll-interval", "0.5"], stdout=output, stderr=subprocess.STDOUT,
                                env=environment)


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def settled(store: Store) -> bool:
    """Everything routed, nothing held for a digest, nothing waiting to be sent."""
    behind = store.query_one("SELECT (SELECT coalesce(max(seq), 0) FROM decision_traces) - trace_seq AS n "
                             "FROM notifier_cursor")["n"]
    held = store.query_one("SELECT count(*) AS n FROM notification_alerts WHERE outbox_id IS NULL")["n"]
    pending = store.query_one("SELECT count(*) AS n FROM notification_outbox WHERE status = 'pending'")["n"]
    return behind == 0 and held == 0 and pending == 0


@contextlib.contextmanager
def receivers():
    Counting.received = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Counting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    mailbox = Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    smtp.start()
    try:
        yield server.server_address[1], smtp.port, mailbox
    finally:
        smtp.stop()
        server.shutdown()


def accounted(bodies: list[dict]) -> int:
    return sum(body.get("total_alerts", 1) for body in bodies)


def measure_storm(scratch: Path) -> dict:
    data_dir, store = new_box(scratch / "storm")
    with receivers() as (hook_port, smtp_port, mailbox):
        add_channels(store, hook_port, smtp_port)
        notifier = start_notifier(data_dir, scratch / "storm-runtime", scratch / "storm-notifier.log")
        started = time.monotonic()
        per_tick = 50
        ticks = STORM_ALERTS // per_tick
        for tick in range(ticks):
            write_alerts(store, per_tick, tick * per_tick, time.time())
            time.sleep(max(0.0, started + (tick + 1) * STORM_SECONDS / ticks - time.monotonic()))
        storm_seconds = time.monotonic() - started
        while not settled(store):
            if time.monotonic() - started > STORM_SECONDS + 4 * WINDOW_SECONDS:
                raise RuntimeError("the notifier did not settle; see storm-notifier.log")
            time.sleep(0.5)
        settled_after = time.monotonic() - started
        stop(notifier)
        by_channel = {
            "json": [item["body"] for item in Counting.received if item["path"] == "/json"],
            "slack": [item["body"] for item in Counting.received if item["path"] == "/slack"],
        }
        mails = [email.message_from_bytes(raw) for raw in mailbox.received]
    kinds = {row["kind"]: row["n"] for row in store.query(
        "SELECT kind, count(*) AS n FROM notification_outbox GROUP BY kind ORDER BY kind")}
    store.close()
    bound = MAX_IMMEDIATE + math.ceil(storm_seconds / WINDOW_SECONDS) + 1
    json_alerts = accounted(by_channel["json"])
    slack_digests = sum(1 for body in by_channel["slack"] if " alerts (worst " in body["text"])
    return {
        "alerts": STORM_ALERTS,
        "storm_seconds": round(storm_seconds, 1),
        "messages": {"json": len(by_channel["json"]), "slack": len(by_channel["slack"]), "mail": len(mails)},
        "bound_per_channel": bound,
        "within_bound": all(count <= bound for count in (len(by_channel["json"]), len(by_channel["slack"]),
                                                          len(mails))),
        "alerts_accounted_for_in_json_messages": json_alerts,
        "slack_digests": slack_digests,
        "outbox_messages_by_kind": kinds,
        "settled_after_seconds": round(settled_after, 1),
    }


def queue_capture_in_small_batches(store: Store, capture: Path) -> tuple[int, int]:
    pipeline = Pipeline()
    pipeline.feed_file(capture)
    drained = pipeline.close()
    parts = list(split_drain(drained.flows, drained.events, drained.stats, RECORDS_PER_BATCH))
    with store.write_transaction() as connection:
        for seq, (flows, events, stats) in enumerate(parts, start=1):
            enqueue_records(connection, Batch(agent_id="local", seq=seq, sent_at=time.time(), flows=flows,
                                              events=events, stats=stats))
    return len(parts), drained.stats.packets


def engine_run(template: Path, scratch: Path, name: str, scorer: Scorer, *, with_notifier: bool) -> dict:
    root = scratch / name
    shutil.copytree(template, root)
    data_dir = DataDirectory.at(root)
    store = Store(data_dir, keys.load_key(data_dir))
    notifier = None
    with receivers() as (hook_port, smtp_port, _):
        for first in range(0, STORM_ALERTS, 1000):  # the same store either way: only the notifier differs
            write_alerts(store, 1000, first, time.time())
        if with_notifier:
            add_channels(store, hook_port, smtp_port)
            notifier = start_notifier(data_dir, scratch / f"{name}-runtime", scratch / f"{name}-notifier.log")
            while store.query_one("SELECT trace_seq FROM notifier_cursor")["trace_seq"] == 0:
                time.sleep(0.05)  # the notifier is at work before the clock starts
        engine = Engine(store, scorer)
        batches = store.query_one("SELECT count(*) AS n FROM ingest_batches WHERE done = 0")["n"]
        started = time.perf_counter()
        while engine.process_pending(limit=10):
            pass
        seconds = time.perf_counter() - started
        routed = store.query_one("SELECT trace_seq FROM notifier_cursor")["trace_seq"]
        if notifier is not None:
            stop(notifier)
    store.close()
    return {"batches": batches, "seconds": round(seconds, 3), "batches_per_s": round(batches / seconds, 1),
            "decisions_routed_by_notifier_meanwhile": routed if with_notifier else 0}


def measure_engine(scratch: Path) -> dict:
    capture = WORK / "mixed-7-600s.pcap"
    if not capture.exists():
        scenarios.write("mixed", capture, seed=7, duration=600)
    template_dir, store = new_box(scratch / "template")
    batches, packets = queue_capture_in_small_batches(store, capture)
    store.close()
    scorer = Scorer.load()
    runs = {"without": [], "with": []}
    for round_index in range(ROUNDS):
        for mode in ("without", "with"):
            result = engine_run(template_dir.root, scratch, f"{mode}-{round_index}", scorer,
                                with_notifier=mode == "with")
            runs[mode].append(result)
            print(f"  engine {mode} notifier: {result}", flush=True)
    without = statistics.median(run["batches_per_s"] for run in runs["without"])
    with_notifier = statistics.median(run["batches_per_s"] for run in runs["with"])
    return {"capture": capture.name, "packets": packets, "batches": batches, "records_per_batch": RECORDS_PER_BATCH,
            "median_batches_per_s_without_notifier": without, "median_batches_per_s_with_notifier": with_notifier,
            "with_vs_without": round(with_notifier / without, 3), "runs": runs}


def main() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=WORK) as scratch:
        storm = {} if "--engine-only" in sys.argv else measure_storm(Path(scratch))
        print(f"storm: {json.dumps(storm)}", flush=True)
        engine = measure_engine(Path(scratch))
    print(f"engine: {engine['median_batches_per_s_without_notifier']} batches/s without the notifier, "
          f"{engine['median_batches_per_s_with_notifier']} with it ({engine['with_vs_without']}x)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"storm": storm, "engine": engine}, indent=2) + "\n")


if __name__ == "__main__":
    main()
