"""Analytics benchmark (issue 6).

Measures, in one run on this machine, with 1,000,000 stored alerts (built like bench_store_api's):
- each /analytics endpoint's query (p50/p99) as served, from the trigger-kept roll-ups (migrations 0003, 0006);
- the peer: the same answers computed straight from the alerts table (GROUP BY over the million rows);
- what the roll-up triggers cost the writer: alert inserts/s with migration 0006 vs the schema before it.
Writes tests/benchmarks/results/analytics.json.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).parent))

from bench_store_api import ALERTS, INSERT_SQL, alert_rows, insert_rate, percentile

from appliance.analytics import queries
from appliance.store import keys, lifecycle
from appliance.store.connection import open_encrypted
from appliance.store.data_dir import DataDirectory
from appliance.store.database import Store
from appliance.store.migrations import latest_version, migrate

WORK = Path(__file__).parent / "work"
RESULTS = Path(__file__).parent / "results" / "analytics.json"
INSERT_SAMPLE = 100_000
SITE_DEVICES = 500  # a realistic site: alerts come from a few hundred devices, not a million
RUNS = 200
PEER_RUNS = 3
DAYS = 30


def million_alert_box() -> tuple[DataDirectory, bytes]:
    """1M alerts through the real triggers; the analysts' responses spread over the first hour."""
    data_dir = DataDirectory.at(WORK / "analytics_million")
    if data_dir.is_initialised():
        return data_dir, keys.load_key(data_dir)
    key = lifecycle.create_database(data_dir)
    store = Store(data_dir, key)
    connection = store.connection()
    insert_rate(connection, ALERTS, seed=42, batch=5000)
    with connection:
        connection.execute("UPDATE alerts SET first_response_at = created_at + abs(random() % 3600) "
                           "WHERE status <> 'open'")
    connection.execute("ANALYZE")
    store.close()
    return data_dir, key


def newest_day_end(connection) -> float:
    return connection.execute("SELECT max(timestamp) FROM alerts").fetchall()[0][0]


def served(connection, now: float) -> dict:
    return {
        "summary": lambda: queries.summary(connection),
        f"alerts-over-time?days={DAYS}": lambda: queries.alerts_over_time(connection, DAYS, now),
        "severity-distribution": lambda: queries.severity_distribution(connection),
        "top-rules?limit=10": lambda: queries.top_rules(connection, 10),
        "device-risk?limit=20": lambda: queries.device_risk(connection, 20),
    }


def peer(connection, now: float) -> dict:
    """The straightforward SQL over the alerts table, answering the same questions."""
    first_day = int(now) // 86400 - DAYS + 1

    def run(sql: str, parameters=()):
        return lambda: connection.execute(sql, parameters).fetchall()

    return {
        "summary": run("SELECT count(*), sum(status = 'open'), sum(status = 'false_positive'), "
                       "avg(first_response_at - created_at) FROM alerts"),
        f"alerts-over-time?days={DAYS}": run("SELECT timestamp / 86400, severity, count(*) FROM alerts "
                                             "WHERE timestamp >= ? GROUP BY 1, 2", (first_day * 86400,)),
        "severity-distribution": run("SELECT severity, count(*) FROM alerts GROUP BY severity"),
        "top-rules?limit=10": run("SELECT rule_name, count(*) AS n FROM alerts GROUP BY rule_name "
                                  "ORDER BY n DESC LIMIT 10"),
        "device-risk?limit=20": run(
            "SELECT source_ip, sum(CASE severity WHEN 'CRITICAL' THEN 10 WHEN 'HIGH' THEN 5 WHEN 'MEDIUM' THEN 2 "
            "ELSE 1 END) AS points FROM alerts WHERE status <> 'false_positive' GROUP BY source_ip "
            "ORDER BY points DESC LIMIT 20"),
    }


def timings_ms(function, runs: int) -> list[float]:
    samples = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def measure_queries(data_dir: DataDirectory, key: bytes) -> dict:
    connection = open_encrypted(data_dir.database, key, readonly=True)
    now = newest_day_end(connection)
    fast, slow = served(connection, now), peer(connection, now)
    results = {}
    for name, function in fast.items():
        samples = timings_ms(function, RUNS)
        peer_samples = timings_ms(slow[name], PEER_RUNS)
        results[name] = {"p50_ms": round(percentile(samples, 0.5), 3), "p99_ms": round(percentile(samples, 0.99), 3),
                         "peer_full_scan_median_ms": round(statistics.median(peer_samples), 1),
                         "speedup_vs_peer": round(statistics.median(peer_samples) / percentile(samples, 0.5))}
    connection.close()
    return results


def site_insert_rate(connection, count: int, seed: int, devices: int | None, batch: int = 1000) -> float:
    """bench_store_api's alert rows, optionally from only `devices` source addresses."""
    rows = [row if devices is None else (*row[:3], f"10.0.{n % devices // 256}.{n % 256}", *row[4:])
            for n, row in enumerate(alert_rows(count, seed))]
    started = time.perf_counter()
    for start in range(0, count, batch):
        with connection:
            connection.executemany(INSERT_SQL, rows[start:start + batch])
    return count / (time.perf_counter() - started)


def measure_trigger_cost(scratch: Path, devices: int | None) -> dict:
    """Inserts/s with the analytics triggers vs the schema just before them, interleaved so load hits both."""
    with_rollups = open_encrypted(scratch / f"with-{devices}.db", keys.generate_key())
    without = open_encrypted(scratch / f"without-{devices}.db", keys.generate_key())
    migrate(with_rollups)
    migrate(without, target=latest_version() - 1)
    rounds = 10
    fast, slow = [], []
    for round_number in range(rounds):
        slow.append(site_insert_rate(with_rollups, INSERT_SAMPLE // rounds, round_number, devices))
        fast.append(site_insert_rate(without, INSERT_SAMPLE // rounds, round_number, devices))
    ratio = statistics.median(s / f for s, f in zip(slow, fast, strict=True))
    return {"source_devices": devices or "random (about one per alert)",
            "inserts_per_s_with_rollups": round(statistics.median(slow)),
            "inserts_per_s_without": round(statistics.median(fast)),
            "insert_cost_pct": round(100 * (1 - ratio), 1), "rounds": rounds}


def main() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    data_dir, key = million_alert_box()
    print(f"1M-alert box ready in {time.perf_counter() - started:.0f} s")
    latency = measure_queries(data_dir, key)
    for name, numbers in latency.items():
        print(f"GET /analytics/{name:28s} p50 {numbers['p50_ms']:8.3f} ms  p99 {numbers['p99_ms']:8.3f} ms   "
              f"peer (scan) {numbers['peer_full_scan_median_ms']:8.1f} ms  -> {numbers['speedup_vs_peer']}x")
    costs = []
    for devices in (None, SITE_DEVICES):
        with tempfile.TemporaryDirectory(dir=WORK) as scratch:
            cost = measure_trigger_cost(Path(scratch), devices)
        costs.append(cost)
        print(f"alert inserts/s ({cost['source_devices']} source devices) with roll-up triggers "
              f"{cost['inserts_per_s_with_rollups']:,} vs without {cost['inserts_per_s_without']:,}: "
              f"the triggers cost {cost['insert_cost_pct']}%")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"alerts_stored": ALERTS, "query_latency": latency, "trigger_cost": costs},
                                  indent=2) + "\n")


if __name__ == "__main__":
    main()
