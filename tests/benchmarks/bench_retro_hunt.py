"""Retro-hunt (issue 16): how long a feed's new indicators take to be searched in a stored flow log, and how long
the engine's hot path waits for it between two rounds of batches.

A flow log of FLOWS flows over 7 days of packet time (400 internal hosts, 20,000 external peers of which a few
carry most traffic, a TLS ClientHello for every HTTPS flow, a DNS query for a tenth of them) is written into an
encrypted store as the engine writes it (flow_log.record_batch). Then a feed of INDICATORS new indicators is
imported (addresses, of which some busy peers of the log; domains; /24 networks; JA3s), and the engine runs
its retro-hunt rounds (Engine.retro_hunt, between batches) until the hunt is done. Reported: the rounds, the
longest and the p99 round (the most a batch waits), the total, and the alerts found later.

Run: python tests/benchmarks/bench_retro_hunt.py  (writes tests/benchmarks/results/retro_hunt.json; ~1 minute)
"""

from __future__ import annotations

import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from appliance.engine.process import RETRO_HUNT_SECONDS, Engine
from appliance.engine.scoring import Scorer
from appliance.evidence import flow_log
from appliance.intel import retro_hunt
from appliance.intel.imports import import_file
from appliance.store import lifecycle
from appliance.store.data_dir import DataDirectory
from appliance.store.database import Store
from sensor.records import Batch, DnsEvent, Flow, TlsClientHelloEvent

RESULTS = ROOT / "tests" / "benchmarks" / "results" / "retro_hunt.json"
FLOWS = 150_000
INDICATORS = 20_000
BATCH = 5000
START = 1_767_000_000.0
WEEK = 7 * 86400
JA3S = [f"{number:032x}" for number in range(1, 41)]


def external(number: int) -> str:
    return f"{11 + number // 65536}.{(number // 256) % 256}.{number % 256}.{1 + number % 250}"


def peer(rng: random.Random) -> int:
    """A few dozen peers (cloud, CDN) carry most traffic."""
    return rng.randrange(40) if rng.random() < 0.6 else rng.randrange(20_000)


def batches(rng: random.Random):
    for start in range(0, FLOWS, BATCH):
        flows, events = [], []
        for number in range(start, min(start + BATCH, FLOWS)):
            ts = START + WEEK * number / FLOWS
            client, server = f"10.0.{1 + number % 2}.{1 + number % 200}", external(peer(rng))
            uid = f"F{number:x}"
            flows.append(Flow(uid=uid, ts_start=ts, ts_end=ts + 2, proto="TCP", src_ip=client, dst_ip=server,
                              src_port=40000 + number % 20000, dst_port=443, pkts_orig=8, pkts_resp=9,
                              bytes_orig=900, bytes_resp=5000, conn_state="SF", service="tls"))
            events.append(TlsClientHelloEvent(ts=ts, src_ip=client, dst_ip=server, src_port=40000 + number % 20000,
                                              dst_port=443, proto="TCP", flow_uid=uid, sni=f"s{peer(rng)}.example",
                                              ja3_hash=JA3S[number % len(JA3S)]))
            if number % 10 == 0:
                events.append(DnsEvent(ts=ts - 0.1, src_ip=client, dst_ip="10.0.0.53", src_port=53000, dst_port=53,
                                       proto="UDP", query=f"s{peer(rng)}.example"))
        yield Batch(agent_id="sensor-1", seq=start // BATCH, sent_at=START, flows=flows, events=events)


def feed(rng: random.Random) -> bytes:
    """New indicators: mostly addresses nobody here talks to, some busy and quiet peers of the log, domains,
    networks and JA3s."""
    lines = [external(number) for number in (3, 7, 500, 9000)]  # two busy peers, two quiet ones
    lines += [f"s{number}.example" for number in (5, 12000)]
    lines += [f"{11 + number}.{number}.{number}.0/24" for number in range(50)]
    lines += JA3S[:2]
    while len(lines) < INDICATORS:
        lines.append(f"{rng.randrange(100, 200)}.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}")
    return ("\n".join(lines) + "\n").encode()


def main() -> None:
    rng = random.Random(16)
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = DataDirectory.at(Path(tmp) / "data")
        store = Store(data_dir, lifecycle.create_database(data_dir))
        started = time.perf_counter()
        for number, batch in enumerate(batches(rng)):
            with store.write_transaction() as connection:
                flow_log.record_batch(connection, number + 1, batch)
        log_s = time.perf_counter() - started
        events = store.query_one("SELECT count(*) AS n FROM event_log")["n"]

        engine = Engine(store, Scorer.load())
        import_file(store, "new feed", feed(rng), time.time())
        engine.process_pending()  # takes the indicators (and runs the first round)
        rounds, started = [], time.perf_counter()
        while True:
            round_started = time.perf_counter()
            if not engine.retro_hunt():
                break
            rounds.append(time.perf_counter() - round_started)
        total_s = time.perf_counter() - started
        [hunt] = retro_hunt.latest_hunts(store).values()
        store.close()
    rounds.sort()
    output = {
        "flows_in_log": FLOWS,
        "events_in_log": events,
        "log_written_s": round(log_s, 1),
        "new_indicators": hunt.indicators,
        "round_budget_s": RETRO_HUNT_SECONDS,
        "rounds": len(rounds) + 1,
        "round_p50_s": round(statistics.median(rounds), 3),
        "round_p99_s": round(rounds[int(0.99 * (len(rounds) - 1))], 3),
        "round_max_s": round(rounds[-1], 3),
        "hunt_total_s": round(total_s, 1),
        "alerts_found_later": hunt.found,
        "state": hunt.state,
    }
    RESULTS.write_text(json.dumps(output, indent=2) + "\n")
    print(json.dumps(output, indent=2))


if __name__ == "__main__":
    main()
