"""Alert-list latency while writes run, before and after the handlers left the event loop (issue 15).

Measured: the latency of `GET /api/v1/alerts/?limit=30` (p50, p99, p99.9, max), as its clients see it, on a real
box served by `appliance serve` (Granian, 2 workers, HTTP on loopback), while at the same time
- analysts' clients change alert statuses and add notes over the API (PUT /alerts/{id}, POST .../notes), and
- an engine-like process writes batches of alerts into the store, each in one BEGIN IMMEDIATE transaction as
  the engine's batches are, so that the API's writes sometimes wait for the write lock.
The same load runs against two trees in one run, in alternating windows: "before" is the code as it was (39 async
handlers running SQLite on the event loop, so a PUT waiting for the lock held up every request of its worker),
"after" is this checkout. The load client is Python, several processes (http.client, one keep-alive connection
each, closed loop); clients and server share the machine's two cores, so compare before with after.
Writes tests/benchmarks/results/handler_latency.json.

    python tests/benchmarks/bench_handler_latency.py [--before REF] [--seconds 3] [--windows 6]
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import multiprocessing
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from appliance.auth import users
from appliance.store import keys, lifecycle
from appliance.store.data_dir import DataDirectory
from appliance.store.database import Store
from tests.benchmarks.bench_store_api import INSERT_SQL, alert_rows, percentile
from tests.conftest import RunningServer

RESULTS = Path(__file__).parent / "results" / "handler_latency.json"
# The tree before the rule "a handler that touches the store is a def run in a worker thread".
BEFORE_REF = "512c7752995fffa258be8db26770a66820a0eb57"
PASSWORD = "benchmark password"
STORED_ALERTS = 20_000
READERS = 2
WRITERS = 3  # analysts' clients: each engine transaction may catch one write of each waiting for the lock
ENGINE_BATCH = 200  # alerts per engine transaction
ENGINE_HOLD = 0.2  # seconds each engine transaction holds the write lock (a batch, a checkpoint)
ENGINE_PAUSE = 0.2  # seconds between two engine transactions
LIST_PATH = "/api/v1/alerts/?limit=30"
WARM_UP = 0.3  # seconds for the client processes to be ready before the measured window opens


def tree_at(ref: str, into: Path) -> Path:
    """The checkout as it was at `ref`, without touching this one's worktree."""
    into.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", ref], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def seeded_box(root: Path) -> tuple[DataDirectory, list[str]]:
    data_dir = DataDirectory.at(root)
    store = Store(data_dir, lifecycle.create_database(data_dir))
    users.create_user(store, "bench", PASSWORD, "admin")
    with store.write_transaction() as connection:
        connection.executemany(INSERT_SQL, alert_rows(STORED_ALERTS, seed=15))
    alert_ids = [row["id"] for row in store.query("SELECT id FROM alerts ORDER BY id LIMIT 50")]
    store.close()
    return data_dir, alert_ids


def until(start_at: float) -> None:
    time.sleep(max(0.0, start_at - time.time()))


def read_alerts(port: int, token: str, start_at: float, seconds: float, results) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {token}"}
    latencies = []
    until(start_at)
    while time.time() < start_at + seconds:
        started = time.perf_counter()
        connection.request("GET", LIST_PATH, headers=headers)
        response = connection.getresponse()
        response.read()
        latencies.append((time.perf_counter() - started) * 1000)
        assert response.status == 200, response.status
    results.put(("read", latencies))


def review_alerts(port: int, token: str, alert_ids: list[str], start_at: float, seconds: float, results) -> None:
    """An analyst working through alerts: a status change, then a note, on each in turn."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    latencies = []
    until(start_at)
    turn = 0
    while time.time() < start_at + seconds:
        alert_id = alert_ids[turn % len(alert_ids)]
        if turn % 2:
            method, path, body = "POST", f"/api/v1/alerts/{alert_id}/notes", {"text": f"checked, round {turn}"}
        else:
            method, path, body = "PUT", f"/api/v1/alerts/{alert_id}", {"status": ("reviewed", "open")[turn % 4 // 2]}
        started = time.perf_counter()
        connection.request(method, path, body=json.dumps(body), headers=headers)
        response = connection.getresponse()
        response.read()
        latencies.append((time.perf_counter() - started) * 1000)
        assert response.status in (200, 201), response.status
        turn += 1
    results.put(("write", latencies))


def engine_writes(data_root: str, start_at: float, seconds: float, results) -> None:
    """The engine's batches: each one transaction that holds the write lock while the batch is decided (its rows
    written between its Python work), ENGINE_HOLD long whatever the machine's load, then a pause."""
    data_dir = DataDirectory.at(data_root)
    store = Store(data_dir, keys.load_key(data_dir))
    held = []
    until(start_at)
    batch = 0
    while time.time() < start_at + seconds:
        rows = list(alert_rows(ENGINE_BATCH, seed=1000 + batch))
        started = time.perf_counter()
        with store.write_transaction() as connection:
            connection.executemany(INSERT_SQL, rows)
            time.sleep(max(0.0, ENGINE_HOLD - (time.perf_counter() - started)))
        held.append((time.perf_counter() - started) * 1000)
        batch += 1
        time.sleep(ENGINE_PAUSE)
    store.close()
    results.put(("engine", held))


class Box:
    """One tree serving its own copy of the seeded box."""

    def __init__(self, tree: Path, data_dir: DataDirectory) -> None:
        self.data_dir = data_dir
        # Started from the tree: `python -m appliance` puts the working directory on sys.path before PYTHONPATH.
        with contextlib.chdir(tree):
            self.server = RunningServer(data_dir, workers=2, extra_env={
                "PYTHONPATH": str(tree),
                "NETSENX_RATE_LIMITS": json.dumps({"general": [10**9, 60]}),
                "NETSENX_RUNTIME_DIR": tempfile.mkdtemp(dir=data_dir.root.parent),
            })
        login = httpx.post(self.server.url + "/auth/login", json={"username": "bench", "password": PASSWORD})
        self.token = login.json()["access_token"]


def one_window(box: Box, alert_ids: list[str], seconds: float) -> dict[str, list[float]]:
    """The load for `seconds` against one box: readers, analysts writing over the API, the engine writing."""
    context = multiprocessing.get_context("fork")  # the children inherit the imports: they start at once
    results = context.Queue()
    start_at = time.time() + WARM_UP
    port = box.server.port
    clients = [context.Process(target=read_alerts, args=(port, box.token, start_at, seconds, results))
               for _ in range(READERS)]
    clients += [context.Process(target=review_alerts, args=(port, box.token, alert_ids[n::WRITERS], start_at, seconds,
                                                            results)) for n in range(WRITERS)]
    clients.append(context.Process(target=engine_writes, args=(str(box.data_dir.root), start_at, seconds, results)))
    for client in clients:
        client.start()
    collected: dict[str, list[float]] = {"read": [], "write": [], "engine": []}
    for _ in clients:
        kind, samples = results.get(timeout=seconds + 60)
        collected[kind] += samples
    for client in clients:
        client.join()
        assert client.exitcode == 0, f"a load process failed (exit {client.exitcode})"
    return collected


def summary(samples: list[float], seconds: float) -> dict:
    return {
        "requests": len(samples),
        "per_s": round(len(samples) / seconds, 1),
        "p50_ms": round(percentile(samples, 0.50), 2),
        "p99_ms": round(percentile(samples, 0.99), 2),
        "p999_ms": round(percentile(samples, 0.999), 2),
        "max_ms": round(max(samples), 2),
        "over_100_ms_pct": round(100 * sum(sample > 100 for sample in samples) / len(samples), 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", default=BEFORE_REF, help="the git revision to compare with (default: %(default)s)")
    parser.add_argument("--seconds", type=float, default=3.0, help="measured seconds per window")
    parser.add_argument("--windows", type=int, default=6, help="windows per tree, alternating between the trees")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-handlers-") as scratch:
        seeded, alert_ids = seeded_box(Path(scratch) / "seed" / "data")
        trees = {"before": tree_at(args.before, Path(scratch) / "before"), "after": ROOT}
        boxes = {}
        try:
            for name, tree in trees.items():
                shutil.copytree(seeded.root, Path(scratch) / name / "box" / "data")
                boxes[name] = Box(tree, DataDirectory.at(Path(scratch) / name / "box" / "data"))
            runs = {name: {"read": [], "write": [], "engine": []} for name in boxes}
            window_p99s = {name: [] for name in boxes}
            for window in range(args.windows):
                order = list(boxes) if window % 2 == 0 else list(reversed(boxes))  # neither always goes first
                for name in order:
                    collected = one_window(boxes[name], alert_ids, args.seconds)
                    for kind, samples in collected.items():
                        runs[name][kind] += samples
                    window_p99s[name].append(round(percentile(collected["read"], 0.99), 2))
                print(f"window {window + 1}/{args.windows}: GET /alerts/ p99 "
                      + ", ".join(f"{name} {p99s[-1]} ms" for name, p99s in window_p99s.items()), flush=True)
        finally:
            for box in boxes.values():
                box.server.stop()
    measured = args.seconds * args.windows
    result = {
        "measured": f"GET {LIST_PATH} latency at the client while {WRITERS} analysts' clients write over the API (a "
                    f"status change, then a note, in turn) and an engine-like process writes {ENGINE_BATCH} alerts in "
                    f"transactions that hold the write lock {ENGINE_HOLD} s, {ENGINE_PAUSE} s apart",
        "server": "appliance serve: Granian, 2 workers, HTTP on 127.0.0.1; one server per tree, each on its own copy "
                  "of the box, measured in alternating windows",
        "client": f"Python, {READERS} reader processes + {WRITERS} API writer processes (http.client, keep-alive, "
                  "closed loop) + 1 engine process; clients and servers share the machine's 2 cores",
        "stored_alerts_at_start": STORED_ALERTS,
        "seconds_per_window": args.seconds,
        "windows_per_tree": args.windows,
        "before_tree": args.before,
        **{name: {
            "alerts_list": summary(runs[name]["read"], measured),
            "alerts_list_p99_ms_per_window": window_p99s[name],
            "api_writes": summary(runs[name]["write"], measured),
            "engine_transactions": len(runs[name]["engine"]),
        } for name in boxes},
    }
    before, after = result["before"]["alerts_list"], result["after"]["alerts_list"]
    result["p99_before_over_after"] = round(before["p99_ms"] / after["p99_ms"], 2)
    result["p50_before_over_after"] = round(before["p50_ms"] / after["p50_ms"], 2)
    print(f"GET /alerts/ under writes: p99 {before['p99_ms']} ms before, {after['p99_ms']} ms after "
          f"({result['p99_before_over_after']}x); p50 {before['p50_ms']} ms before, {after['p50_ms']} ms after")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
