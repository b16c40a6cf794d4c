"""What it costs that a restart changes no decision (issue 14): the engine's checkpoint of the rules' state and
the baseline, and the replay after a restart.

- The engine over the `mixed` office capture (the demo's, as bench_engine.py) in 500-record batches (the
  shipper's size), checkpointing as it ships (every CHECKPOINT_BATCHES batches or CHECKPOINT_SECONDS), next to
  its peer in the same run: the same engine checkpointing after every batch (the alternative design). The
  difference per batch is what per-batch checkpoints would cost.
- The checkpoint itself after that run: bytes of the rules' state and of the baseline, ms to save and to
  restore; and what a restart pays per batch it replays (the rules alone, no scoring, no writes).
- The rules' state of a large site: the busiest rule tables filled to max_tracked_keys (20,000 hosts calling out,
  asking DNS, announcing ARP; 500 hosts sweeping), bytes and ms to save and to restore.
Writes tests/benchmarks/results/engine_checkpoint.json.
"""

from __future__ import annotations

import json
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from appliance.engine import process
from appliance.engine.process import Engine, detect
from appliance.engine.rules import RuleSet
from appliance.engine.scoring import Scorer
from appliance.ingest.queue import enqueue
from appliance.simulate import scenarios
from appliance.store import keys, lifecycle
from appliance.store.data_dir import DataDirectory
from appliance.store.database import Store
from sensor.pipeline import Pipeline
from sensor.records import ArpEvent, Batch, DnsEvent, Flow, decode_batch, encode_batch
from sensor.shipping.batching import split_drain

WORK = Path(__file__).parent / "work"
RESULTS = Path(__file__).parent / "results" / "engine_checkpoint.json"
RECORDS_PER_BATCH = 500


def best_ms(action, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return round(min(times) * 1000, 2)


def mixed_payloads() -> list[bytes]:
    capture = WORK / "mixed-7-600s.pcap"
    if not capture.exists():
        scenarios.write("mixed", capture, seed=7, duration=600)
    pipeline = Pipeline()
    pipeline.feed_file(capture)
    drained = pipeline.close()
    parts = split_drain(drained.flows, drained.events, drained.stats, RECORDS_PER_BATCH)
    return [
        encode_batch(Batch(agent_id="bench", seq=seq, sent_at=0.0, flows=flows, events=events, stats=stats))
        for seq, (flows, events, stats) in enumerate(parts)
    ]


def run_engine(template: DataDirectory, scratch: Path, name: str, scorer, **checkpoints) -> tuple[float, Store, Engine]:
    data_dir = DataDirectory.at(scratch / name)
    shutil.copytree(template.root, data_dir.root)
    store = Store(data_dir, keys.load_key(data_dir))
    started = time.perf_counter()
    engine = Engine(store, scorer, **checkpoints)
    while engine.process_pending():
        pass
    return time.perf_counter() - started, store, engine


def measure_mixed(scorer) -> dict:
    payloads = mixed_payloads()
    with tempfile.TemporaryDirectory(dir=WORK) as scratch:
        template = DataDirectory.at(Path(scratch) / "template")
        store = Store(template, lifecycle.create_database(template))
        with store.write_transaction() as connection:
            for seq, payload in enumerate(payloads):
                enqueue(connection, "bench", seq, payload)
        store.close()
        spacing, process.CHECKPOINT_SPACING = process.CHECKPOINT_SPACING, 0
        try:
            every_batch_s, every_store, _ = run_engine(template, Path(scratch), "every", scorer, checkpoint_batches=1)
            every_store.close()
        finally:
            process.CHECKPOINT_SPACING = spacing
        periodic_s, store, engine = run_engine(template, Path(scratch), "periodic", scorer)
        rules_bytes = engine.rules.saved_state()
        baseline_bytes = engine.rules.baseline.to_bytes()

        def write_checkpoint():
            engine._unsaved = 1
            engine.checkpoint()

        restored = RuleSet(engine.settings.rule_overrides, engine.settings.site, engine.rules.baseline)
        batches = [decode_batch(payload) for payload in payloads]
        replay = RuleSet(engine.settings.rule_overrides, engine.settings.site)
        replay_ms = best_ms(lambda: [list(detect(replay, batch)) for batch in batches], repeat=1)
        result = {
            "batches": len(payloads),
            "records": sum(len(batch.flows) + len(batch.events) for batch in batches),
            "checkpoint_every": f"{process.CHECKPOINT_BATCHES} batches or {process.CHECKPOINT_SECONDS:g} s",
            "engine_seconds_periodic_checkpoints": round(periodic_s, 2),
            "peer_engine_seconds_checkpoint_every_batch": round(every_batch_s, 2),
            "every_batch_costs_ms_per_batch": round((every_batch_s - periodic_s) / len(batches) * 1e3, 2),
            "rules_state_bytes": len(rules_bytes),
            "baseline_bytes": len(baseline_bytes),
            "save_rules_state_ms": best_ms(engine.rules.saved_state),
            "save_baseline_ms": best_ms(engine.rules.baseline.to_bytes),
            "write_checkpoint_transaction_ms": best_ms(write_checkpoint),
            "restore_rules_state_ms": best_ms(lambda: restored.restore_state(rules_bytes)),
            "replay_ms_per_batch": round(replay_ms / len(batches), 2),
        }
        store.close()
    return result


def large_site_ruleset() -> RuleSet:
    """The busiest rules' tables at their bound: what a checkpoint of a large, busy site holds."""
    rng = random.Random(1)
    ruleset = RuleSet()
    t0 = 1_772_438_400.0
    host = lambda index: f"10.{index // 65536}.{index // 256 % 256}.{index % 256}"  # noqa: E731
    for index in range(ruleset.site.max_tracked_keys):
        src, peer = host(index), f"198.18.{index // 256 % 256}.{index % 256}"
        start = t0
        for call in range(12):  # browsing: irregular calls of irregular sizes (no beacon, no incident)
            start += rng.expovariate(1 / 60)
            ruleset.on_flow(Flow(uid=f"C{index}-{call}", ts_start=start, ts_end=start + 0.5, proto="TCP", src_ip=src,
                                 dst_ip=peer, src_port=40000 + call, dst_port=443, pkts_orig=8, pkts_resp=8,
                                 bytes_orig=rng.randrange(500, 50_000), bytes_resp=4000, payload_orig=500,
                                 payload_resp=3000, conn_state="SF", history="ShADadFf", iat_mean=0.05,
                                 size_mean=300.0))
        ruleset.on_event(DnsEvent(ts=t0 + index * 0.01, src_ip=src, dst_ip="10.0.0.53", dst_port=53, proto="UDP",
                                  query=f"host{index}.example{index % 997}.com", qtype=1))
        ruleset.on_event(ArpEvent(ts=t0 + index * 0.01, op=2, sender_ip=src, sender_mac=f"02:00:{index:08x}"[:17],
                                  target_ip=src))
    for scanner in range(500):
        for port in range(1, 201):
            ts = t0 + 1400 + port * 0.01
            ruleset.on_flow(Flow(uid=f"S{scanner}-{port}", ts_start=ts, ts_end=ts + 0.001, proto="TCP",
                                 src_ip=host(30000 + scanner), dst_ip=host(port), src_port=50000, dst_port=port,
                                 pkts_orig=1, pkts_resp=1, bytes_orig=44, bytes_resp=40, conn_state="REJ",
                                 history="Sr", syn=1, rst=1, tcp_flags_orig=2))
    ruleset.advance(t0 + 1500)
    return ruleset


def measure_large_site() -> dict:
    started = time.perf_counter()
    ruleset = large_site_ruleset()
    built_s = time.perf_counter() - started
    saved = ruleset.saved_state()
    restored = RuleSet(site=ruleset.site, baseline=ruleset.baseline)
    return {
        "tracked_keys_per_table": ruleset.site.max_tracked_keys,
        "records_fed": ruleset.site.max_tracked_keys * 14 + 500 * 200,
        "seconds_to_build": round(built_s, 1),
        "rules_state_bytes": len(saved),
        "save_rules_state_ms": best_ms(ruleset.saved_state),
        "restore_rules_state_ms": best_ms(lambda: restored.restore_state(saved)),
    }


def main() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    scorer = Scorer.load()
    mixed = measure_mixed(scorer)
    print(json.dumps(mixed, indent=2))
    large = measure_large_site()
    print(json.dumps(large, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "mixed_scenario": mixed,
                "large_site": large,
                "note": "a shared machine: compare the periodic run with its every-batch peer; bytes are exact",
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    main()
