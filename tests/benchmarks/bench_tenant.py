"""GDPR export and erasure benchmark (issue 6, "GDPR data access").

Measures, in one run on this machine, on one encrypted database of ALERTS alerts and TRACES decision traces:
- the streamed ZIP export (rows/s, MB/s, the process's peak memory growth while it runs) vs the online
  encrypted backup of the same database (the peer: a page copy with no JSON and no compression);
- the erasure's duration;
- the per-request cost of the erased-box check every API worker makes, vs a bare os.stat (the peer).
Writes tests/benchmarks/results/tenant.json.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from appliance.store import lifecycle
from appliance.store.connection import open_encrypted
from appliance.store.data_dir import DataDirectory
from appliance.tenant.erasure import database_identity, erase
from appliance.tenant.export import TenantExport

RESULTS = Path(__file__).parent / "results" / "tenant.json"
ALERTS = 200_000
TRACES = 50_000
PAGE = os.sysconf("SC_PAGE_SIZE")


def resident_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * PAGE


class PeakMemory:
    """Samples resident memory every 5 ms in a thread: the highest value seen while the block runs."""

    def __enter__(self) -> PeakMemory:
        self.start = resident_bytes()
        self.peak = self.start
        self._running = True
        self._thread = threading.Thread(target=self._sample)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while self._running:
            self.peak = max(self.peak, resident_bytes())
            time.sleep(0.005)

    def __exit__(self, *_) -> None:
        self._running = False
        self._thread.join()

    @property
    def growth_mib(self) -> float:
        return (self.peak - self.start) / 2**20


def fill(data_dir: DataDirectory, key: bytes) -> None:
    connection = open_encrypted(data_dir.database, key)
    now = time.time()
    with connection:
        connection.executemany(
            "INSERT INTO alerts (id, severity, rule_name, source_ip, dest_ip, port, protocol, score, timestamp, "
            "notes, created_at, updated_at) VALUES (?, 'HIGH', 'PORT_SCAN', ?, '203.0.113.9', 443, 'TCP', 0.9, ?, "
            "'scanned the printer VLAN', ?, ?)",
            ((f"alt_{i:08d}", f"10.0.{i // 250 % 250}.{i % 250}", int(now) - i, now, now) for i in range(ALERTS)),
        )
        previous = "0" * 64
        rows = []
        for seq in range(1, TRACES + 1):
            content = json.dumps({"rule": "PORT_SCAN", "evidence": {"ports": list(range(seq % 40))}, "seq": seq})
            digest = hashlib.sha256(content.encode()).hexdigest()
            current = hashlib.sha256((previous + digest).encode()).hexdigest()
            rows.append((seq, f"trc_{seq:08d}", now, f"key-{seq}", content, digest, previous, current))
            previous = current
        connection.executemany(
            "INSERT INTO decision_traces (seq, id, created_at, outcome, rule_name, incident_key, source_ip, dest_ip, "
            "content, content_sha256, previous_hash, hash) VALUES (?, ?, ?, 'alert_raised', 'PORT_SCAN', ?, "
            "'10.0.0.1', '203.0.113.9', ?, ?, ?, ?)",
            rows,
        )
    connection.close()


def measure_export(data_dir: DataDirectory, key: bytes) -> dict:
    with PeakMemory() as memory:
        started = time.perf_counter()
        size = sum(
            len(chunk) for chunk in TenantExport(open_encrypted(data_dir.database, key, readonly=True), time.time())
        )
        seconds = time.perf_counter() - started
    rows = ALERTS + TRACES
    return {
        "seconds": round(seconds, 3),
        "rows_per_second": round(rows / seconds),
        "zip_mib": round(size / 2**20, 2),
        "zip_mib_per_second": round(size / 2**20 / seconds, 2),
        "peak_memory_growth_mib": round(memory.growth_mib, 1),
    }


def measure_backup(data_dir: DataDirectory, key: bytes, destination: Path) -> dict:
    started = time.perf_counter()
    lifecycle.backup(data_dir, key, destination)
    seconds = time.perf_counter() - started
    return {"seconds": round(seconds, 3), "backup_mib": round(destination.stat().st_size / 2**20, 2)}


def per_call_microseconds(function, calls: int = 50_000) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        function()
    return (time.perf_counter() - started) / calls * 1e6


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-tenant-") as work:
        os.environ["NETSENX_RUNTIME_DIR"] = str(Path(work) / "runtime")
        data_dir = DataDirectory.at(Path(work) / "data")
        key = lifecycle.create_database(data_dir)
        fill(data_dir, key)
        database_mib = round(data_dir.database.stat().st_size / 2**20, 1)
        export = measure_export(data_dir, key)
        backup = measure_backup(data_dir, key, Path(work) / "peer.backup")
        check = per_call_microseconds(lambda: database_identity(data_dir))
        bare_stat = per_call_microseconds(lambda: os.stat(data_dir.database))
        started = time.perf_counter()
        erase(data_dir)
        erase_seconds = time.perf_counter() - started
    results = {
        "alerts": ALERTS,
        "traces": TRACES,
        "database_mib": database_mib,
        "export": export,
        "peer_backup": backup,
        "export_vs_backup_time_ratio": round(export["seconds"] / backup["seconds"], 2),
        "erase_seconds": round(erase_seconds, 3),
        "erased_check_microseconds": round(check, 2),
        "peer_os_stat_microseconds": round(bare_stat, 2),
        "erased_check_vs_stat_ratio": round(check / bare_stat, 2),
    }
    print(json.dumps(results, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
