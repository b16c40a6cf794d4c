"""What an admin's audit-log page costs as the log grows (issue: foundation, "integrity each page reports").

An encrypted store with ENTRIES audit entries; each page view checks the hash chain. Peer in the same run:
verify_chain, which walks every entry (what every page view paid before ChainVerifier); ours: the page's
ChainVerifier once warm, after a few entries were appended since the last view.

    python tests/benchmarks/bench_audit_log.py  ->  tests/benchmarks/results/audit_log.json
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from appliance.audit.log import ChainVerifier, page, record, verify_chain
from appliance.store import lifecycle
from appliance.store.data_dir import DataDirectory
from appliance.store.database import Store

ENTRIES = 100_000
APPENDED_BETWEEN_VIEWS = 5
VIEWS = 20
RESULTS = Path(__file__).parent / "results" / "audit_log.json"


def append(store: Store, count: int, start: int) -> None:
    with store.write_transaction():
        for n in range(start, start + count):
            record(store, username="admin", source_ip="192.0.2.10", action="alert.update", target=f"alert-{n}",
                   details={"status": "resolved", "n": n})


def median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 3)


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        os.environ["NETSENX_RUNTIME_DIR"] = str(Path(scratch) / "runtime")
        data_dir = DataDirectory.at(Path(scratch) / "data")
        store = Store(data_dir, lifecycle.create_database(data_dir))
        append(store, ENTRIES, 0)
        verifier = ChainVerifier()
        started = time.perf_counter()
        assert verifier.verify(store)[0]
        first_view = time.perf_counter() - started
        full, warm, listing = [], [], []
        for view in range(VIEWS):
            append(store, APPENDED_BETWEEN_VIEWS, ENTRIES + view * APPENDED_BETWEEN_VIEWS)
            started = time.perf_counter()
            assert verifier.verify(store)[0]
            warm.append(time.perf_counter() - started)
            started = time.perf_counter()
            page(store, 30, 0)
            listing.append(time.perf_counter() - started)
            started = time.perf_counter()
            assert verify_chain(store)[0]
            full.append(time.perf_counter() - started)
        store.close()
    result = {
        "entries": ENTRIES,
        "appended_between_views": APPENDED_BETWEEN_VIEWS,
        "views": VIEWS,
        "first_view_full_check_ms": round(first_view * 1000, 1),
        "warm_page_check_ms_median": median_ms(warm),
        "peer_full_chain_check_ms_median": median_ms(full),
        "page_listing_30_entries_ms_median": median_ms(listing),
        "full_over_warm": round(statistics.median(full) / statistics.median(warm), 1),
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
