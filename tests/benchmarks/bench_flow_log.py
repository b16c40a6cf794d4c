"""Flow log benchmark (issue 12): which index makes a week of a busy link searchable.

A week of flows of a busy 1 GbE site is stored three ways, in the same run, in encrypted stores:
- `address_table` (what migration 0011 ships): indexes on time and on (responder port, time), and a
  WITHOUT ROWID table of (address, time, flow) holding each flow once per address;
- `index_per_side`: indexes on time, (port, time), (src_ip, time) and (dst_ip, time), an address searched
  as `src_ip = ? OR dst_ip = ?` (SQLite unions the two index ranges, then sorts);
- `time_only`: one index on time (the peer a plain log gets).
For each: insert rate, bytes on disk per flow, and p50/p99 of the searches the API and a retro-hunt make
(newest page with its total counted up to 10,000, as flow_log.search_flows does). The shipped variant is
searched through appliance/evidence/flow_log.py itself.

Volume: FLOWS (300,000 by default, so the three variants run in under two minutes) spread over 7 days of
packet time; `--flows 10000000` is a busy week (a site averaging 16.5 new flows/s, peaks of several hundred a
second in office hours) and takes several minutes. Addresses follow a realistic skew: 400 internal hosts, an
internal DNS server and a proxy in a fifth of all flows each, 20,000 external peers of which a few dozen (cloud,
CDN) carry most traffic. Writes tests/benchmarks/results/flow_log.json.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from appliance.evidence import flow_log
from appliance.evidence.flow_log import FlowQuery
from appliance.store import keys
from appliance.store.connection import open_encrypted
from appliance.store.migrations import migrate

WORK = Path(__file__).parent / "work"
RESULTS = Path(__file__).parent / "results" / "flow_log.json"
WEEK = 7 * 86400
START = 1_767_000_000.0
BATCH = 5000  # flows per transaction: the shipper's batch size
RUNS = 40
DNS_SERVER, PROXY = "10.0.0.53", "10.0.0.8"
PAGE = 30
FLOWS = 300_000  # all three variants in well under 2 minutes on the shared 2-core machine

PEER_SCHEMA = """
CREATE TABLE flow_log (
    id INTEGER PRIMARY KEY, batch_id INTEGER NOT NULL, agent_id TEXT NOT NULL, uid TEXT NOT NULL,
    ts_start REAL NOT NULL, ts_end REAL NOT NULL, proto TEXT NOT NULL, service TEXT NOT NULL,
    src_ip TEXT NOT NULL, src_port INTEGER NOT NULL, dst_ip TEXT NOT NULL, dst_port INTEGER NOT NULL,
    pkts_orig INTEGER NOT NULL, pkts_resp INTEGER NOT NULL, bytes_orig INTEGER NOT NULL,
    bytes_resp INTEGER NOT NULL, conn_state TEXT NOT NULL, end_reason TEXT NOT NULL
);
CREATE INDEX flow_log_by_time ON flow_log (ts_start);
"""
PER_SIDE_INDEXES = """
CREATE INDEX flow_log_by_port ON flow_log (dst_port, ts_start);
CREATE INDEX flow_log_by_src ON flow_log (src_ip, ts_start);
CREATE INDEX flow_log_by_dst ON flow_log (dst_ip, ts_start);
"""
INSERT_FLOW = (
    "INSERT INTO flow_log (id, batch_id, agent_id, uid, ts_start, ts_end, proto, service, src_ip, src_port, dst_ip, "
    "dst_port, pkts_orig, pkts_resp, bytes_orig, bytes_resp, conn_state, end_reason) "
    "VALUES (?, ?, 'sensor-1', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)
INSERT_ADDRESS = "INSERT INTO flow_log_addresses (ip, ts_start, flow_id) VALUES (?, ?, ?)"
SERVICES = [(443, "TCP", "tls", 0.55), (53, "UDP", "dns", 0.2), (80, "TCP", "http", 0.08), (445, "TCP", "smb", 0.05),
            (389, "TCP", "ldap", 0.03), (88, "TCP", "kerberos", 0.03), (123, "UDP", "ntp", 0.02),
            (3389, "TCP", "", 0.01), (22, "TCP", "ssh", 0.01), (8080, "TCP", "http", 0.02)]


def internal(n: int) -> str:
    return f"10.0.{1 + n // 250}.{1 + n % 250}"


def external(n: int) -> str:
    return f"{23 + n % 180}.{(n * 7) % 256}.{(n * 13) % 256}.{1 + n % 254}"


def week_of_flows(count: int, seed: int = 12):
    """(flow row, its addresses) in packet-time order."""
    rng = random.Random(seed)
    hosts = [internal(n) for n in range(400)]
    peers = [external(n) for n in range(20_000)]
    peer_weights = [1.0 / (rank + 1) for rank in range(len(peers))]  # Zipf: a few carry most traffic
    services = [service[:3] for service in SERVICES]
    service_weights = [service[3] for service in SERVICES]
    step = WEEK / count
    chunk = 10_000
    for start in range(0, count, chunk):
        size = min(chunk, count - start)
        picked_services = rng.choices(services, service_weights, k=size)
        picked_peers = rng.choices(peers, peer_weights, k=size)
        for offset in range(size):
            number = start + offset
            ts = START + number * step + rng.random() * step
            port, proto, service = picked_services[offset]
            source = rng.choice(hosts)
            if port == 53:
                destination = DNS_SERVER
            elif port in (80, 8080) or (port == 443 and rng.random() < 0.35):
                destination = PROXY
            elif port in (445, 389, 88, 3389, 22):
                destination = rng.choice(hosts[:20])
            else:
                destination = picked_peers[offset]
            row = (number + 1, 1 + number // BATCH, f"F{number:x}", ts, ts + rng.random() * 30, proto, service,
                   source, 40_000 + rng.randrange(20_000), destination, port, 8, 6, 900, 5200, "SF", "fin")
            yield row, (source, destination)


def fill(connection, count: int, with_address_table: bool) -> float:
    """Stores `count` flows in transactions of BATCH; returns flows per second."""
    started = time.perf_counter()
    rows, addresses = [], []
    for row, (source, destination) in week_of_flows(count):
        rows.append(row)
        if with_address_table:
            addresses += [(address, row[3], row[0]) for address in {source, destination}]
        if len(rows) == BATCH:
            write(connection, rows, addresses)
            rows, addresses = [], []
    if rows:
        write(connection, rows, addresses)
    return count / (time.perf_counter() - started)


def write(connection, rows: list, addresses: list) -> None:
    with connection:
        connection.executemany(INSERT_FLOW, rows)
        if addresses:
            connection.executemany(INSERT_ADDRESS, addresses)


def timed(function, arguments: list) -> dict:
    samples = []
    for argument in arguments:
        started = time.perf_counter()
        function(argument)
        samples.append((time.perf_counter() - started) * 1000)
    ordered = sorted(samples)
    return {"p50_ms": round(statistics.median(samples), 2), "p99_ms": round(ordered[int(0.99 * (len(ordered) - 1))], 2)}


def peer_search(connection, per_side: bool):
    """The same page and capped total as flow_log.search_flows, in the peer schema."""
    def search(query: FlowQuery) -> None:
        conditions = ["ts_start >= ?", "ts_start <= ?"]
        parameters: list = [query.since or -1e308, query.until or 1e308]
        if query.ip is not None:
            conditions.append("(src_ip = ? OR dst_ip = ?)")
            parameters += [query.ip, query.ip]
        for column, value in (("dst_port", query.port), ("proto", query.protocol), ("service", query.service)):
            if value is not None:
                conditions.append(f"{column} = ?")
                parameters.append(value)
        where = " AND ".join(conditions)
        connection.execute(f"SELECT * FROM flow_log WHERE {where} ORDER BY ts_start DESC, id DESC LIMIT {PAGE}",
                           parameters).fetchall()
        connection.execute(f"SELECT count(*) FROM (SELECT 1 FROM flow_log WHERE {where} LIMIT 10001)",
                           parameters).fetchall()
    return search


def shipped_search(connection):
    return lambda query: flow_log.search_flows(connection, query, limit=PAGE)


def searches(end: float, rng: random.Random) -> dict[str, list[FlowQuery]]:
    workstations = [internal(rng.randrange(20, 400)) for _ in range(RUNS)]
    hours = [end - rng.random() * WEEK * 0.9 for _ in range(RUNS)]
    return {
        "busy server (DNS, 20% of flows), newest page": [FlowQuery(ip=DNS_SERVER)] * RUNS,
        "busy server, one hour": [FlowQuery(ip=DNS_SERVER, since=h, until=h + 3600) for h in hours],
        "workstation, newest page": [FlowQuery(ip=ip) for ip in workstations],
        "workstation, one hour": [FlowQuery(ip=ip, since=h, until=h + 3600)
                                  for ip, h in zip(workstations, hours, strict=True)],
        "rare external address, whole week": [FlowQuery(ip=external(19_000 + n)) for n in range(RUNS)],
        "port 445, last day": [FlowQuery(port=445, since=end - 86400)] * RUNS,
        "protocol UDP + service dns, one hour": [FlowQuery(protocol="UDP", service="dns", since=h, until=h + 3600)
                                                  for h in hours],
        "everything, newest page": [FlowQuery()] * RUNS,
    }


def variant(name: str, scratch: Path, count: int) -> dict:
    path = scratch / f"{name}.db"
    connection = open_encrypted(path, keys.generate_key())
    if name == "address_table":
        migrate(connection)
    else:
        connection.execute(PEER_SCHEMA + (PER_SIDE_INDEXES if name == "index_per_side" else ""))
    rate = fill(connection, count, with_address_table=name == "address_table")
    connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    connection.execute("ANALYZE")
    size = path.stat().st_size
    end = START + WEEK
    search = shipped_search(connection) if name == "address_table" else peer_search(connection, name != "time_only")
    results = {name_: timed(search, queries) for name_, queries in searches(end, random.Random(3)).items()}
    connection.close()
    print(f"{name:15s} {rate:10,.0f} flows/s  {size / count:6.0f} B/flow", flush=True)
    for query_name, numbers in results.items():
        print(f"   {query_name:48s} p50 {numbers['p50_ms']:9.2f} ms  p99 {numbers['p99_ms']:9.2f} ms", flush=True)
    return {"inserts_per_s": round(rate), "bytes_per_flow": round(size / count), "searches": results}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--flows", type=int, default=FLOWS)
    arguments = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    measured = {}
    for name in ("address_table", "index_per_side", "time_only"):
        with tempfile.TemporaryDirectory(dir=WORK) as scratch:
            measured[name] = variant(name, Path(scratch), arguments.flows)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"flows": arguments.flows, "days": 7, "page": PAGE, "variants": measured},
                                  indent=2) + "\n")


if __name__ == "__main__":
    main()
