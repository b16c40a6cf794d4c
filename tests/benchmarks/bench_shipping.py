"""Shipping benchmark (issue: agents, licensing, billing): how fast records travel sensor -> appliance.

Measures, in one run on this machine, with real records (the public captures decoded by the sensor):
- the Shipper end to end: spool (fsync'd) -> HTTP POST /agents/ingest -> a real Granian box (2 workers) ->
  the encrypted ingest queue; records/s and batches/s;
- peer 1, the same batches POSTed straight from memory by one HTTP client (no spool): what the spool costs;
- peer 2, the same batches put straight into the encrypted store (no HTTP): what the API costs;
- the spool alone (append: AES-256-GCM, write, fsync, rename, fsync of the directory; no network), against
  peer 3, the same files written the same durable way in plaintext (the spool before it was encrypted),
  alternated three times each, medians: what the encryption costs.
Writes tests/benchmarks/results/shipping.json.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.auth import users
from appliance.ingest.queue import enqueue
from appliance.licensing import box_license
from appliance.licensing.keys import License, encode_license, key_id, public_key_text
from appliance.licensing.plans import PLAN_FEATURES
from appliance.store import lifecycle
from appliance.store.data_dir import DataDirectory
from appliance.store.database import Store
from sensor.pipeline import Pipeline
from sensor.records import Batch, CaptureStats, encode_batch
from sensor.shipping.batching import split_drain
from sensor.shipping.client import AgentIdentity, ApplianceClient
from sensor.shipping.shipper import Shipper
from sensor.shipping.spool import Spool, sync_directory, write_durably
from sensor.shipping.spool_cipher import SpoolCipher
from tests.conftest import RunningServer
from tests.shared_data import PCAPS

RESULTS = Path(__file__).parent / "results" / "shipping.json"
RECORDS_PER_BATCH = 500
COPIES = 30  # the captures hold ~11k records; ship them this many times over


def capture_records() -> tuple[list, list]:
    pipeline = Pipeline()
    flows, events = [], []
    for path in sorted(PCAPS.glob("*.pcap")):
        pipeline.feed_file(path)
        drained = pipeline.drain()
        flows += drained.flows
        events += drained.events
    drained = pipeline.close()
    return flows + drained.flows, events + drained.events


def licensed_box(scratch: Path) -> tuple[DataDirectory, str, str]:
    vendor = Ed25519PrivateKey.generate()
    now = int(time.time())
    license = License(
        license_id="lic_bench",
        customer="Bench",
        plan="professional",
        features=PLAN_FEATURES["professional"],
        max_sensors=10,
        issued_at=now - 60,
        expires_at=now + 86_400,
        key_id=key_id(vendor.public_key()),
    )
    key = encode_license(license, vendor)
    trusted = public_key_text(vendor.public_key())
    os.environ[box_license.VENDOR_KEYS_ENV] = trusted
    data_dir = DataDirectory.at(scratch / "data")
    store = Store(data_dir, lifecycle.create_database(data_dir))
    users.create_user(store, "bench", "benchmark password", "admin")
    box_license.install(store, key, box_license.trusted_keys())
    store.close()
    return data_dir, key, trusted


def start_box(data_dir: DataDirectory, runtime: Path) -> tuple[RunningServer, str]:
    server = RunningServer(
        data_dir,
        workers=2,
        extra_env={
            "NETSENX_RUNTIME_DIR": str(runtime),
            "NETSENX_RATE_LIMITS": json.dumps({"ingest": [10**9, 60], "general": [10**9, 60]}),
        },
    )
    return server, server.url.removesuffix("/api/v1")


def batches_of(flows: list, events: list, agent: str) -> list[bytes]:
    """The batches the Shipper makes of COPIES x the records, encoded up front."""
    parts = [part for _ in range(COPIES) for part in split_drain(flows, events, CaptureStats(), RECORDS_PER_BATCH)]
    return [
        encode_batch(Batch(agent_id=agent, seq=seq, sent_at=0.0, flows=batch_flows, events=batch_events))
        for seq, (batch_flows, batch_events, _) in enumerate(parts)
    ]


def measure_shipper(url: str, key: str, flows: list, events: list, scratch: Path) -> dict:
    shipper = Shipper(url, key, "bench-shipper", scratch / "spool-shipper", max_records=RECORDS_PER_BATCH)
    started = time.perf_counter()
    for _ in range(COPIES):
        shipper.ship(flows, events, CaptureStats())
    assert shipper.flush(timeout=600), "the shipper did not deliver everything"
    seconds = time.perf_counter() - started
    stats = shipper.stats
    shipper.close()
    records = (len(flows) + len(events)) * COPIES
    return {
        "records_per_s": round(records / seconds),
        "batches_per_s": round(stats.delivered / seconds, 1),
        "batches": stats.delivered,
        "records": records,
        "seconds": round(seconds, 2),
    }


def measure_direct_post(url: str, key: str, payloads: list[bytes]) -> dict:
    client = ApplianceClient(url, AgentIdentity(agent_id="bench-direct", license_key=key))
    started = time.perf_counter()
    for payload in payloads:
        client.ingest(payload)
    seconds = time.perf_counter() - started
    client.close()
    return {"batches_per_s": round(len(payloads) / seconds, 1), "seconds": round(seconds, 2)}


def measure_store(data_dir: DataDirectory, payloads: list[bytes]) -> dict:
    from appliance.store import keys

    store = Store(data_dir, keys.load_key(data_dir))
    started = time.perf_counter()
    for seq, payload in enumerate(payloads):
        with store.write_transaction() as connection:
            enqueue(connection, "bench-store", seq, payload)
    seconds = time.perf_counter() - started
    store.close()
    return {"batches_per_s": round(len(payloads) / seconds, 1), "seconds": round(seconds, 2)}


def measure_spool(payloads: list[bytes], directory: Path) -> float:
    """Seconds to append every payload to a new (encrypted) spool."""
    spool = Spool(directory, "bench-spool")
    started = time.perf_counter()
    for payload in payloads:
        spool.append(lambda seq, p=payload: p)
    return time.perf_counter() - started


def measure_plaintext_spool_writes(payloads: list[bytes], directory: Path) -> float:
    """Seconds to write the same files as the spool did before it was encrypted: same fsyncs, no cipher."""
    directory.mkdir()
    started = time.perf_counter()
    for seq, payload in enumerate(payloads):
        temporary = directory / f"{seq:020d}.tmp"
        write_durably(temporary, payload)
        os.replace(temporary, directory / f"{seq:020d}.batch")
        sync_directory(directory)
    return time.perf_counter() - started


def measure_sealing_only(payloads: list[bytes]) -> dict:
    """The cipher alone, in memory: its CPU cost per batch, whatever the disk does."""
    cipher = SpoolCipher(bytes(32), "bench-spool")
    started = time.perf_counter()
    for seq, payload in enumerate(payloads):
        cipher.seal(seq, payload)
    seconds = time.perf_counter() - started
    return {
        "batches_per_s": round(len(payloads) / seconds, 1),
        "microseconds_per_batch": round(seconds / len(payloads) * 1e6, 1),
        "megabytes_per_s": round(sum(map(len, payloads)) / seconds / 1e6, 1),
    }


def compare_spool_encryption(payloads: list[bytes], scratch: Path, rounds: int = 3) -> tuple[dict, dict]:
    """Encrypted spool and plaintext writes alternated, so both see the same disk and the same neighbours."""
    encrypted, plaintext = [], []
    for round_number in range(rounds):
        encrypted.append(measure_spool(payloads, scratch / f"spool-alone-{round_number}"))
        plaintext.append(measure_plaintext_spool_writes(payloads, scratch / f"spool-plaintext-{round_number}"))

    def summary(seconds: list[float]) -> dict:
        median = sorted(seconds)[len(seconds) // 2]
        return {"batches_per_s": round(len(payloads) / median, 1), "seconds": round(median, 2), "rounds": rounds}

    return summary(encrypted), summary(plaintext)


def main() -> None:
    flows, events = capture_records()
    with tempfile.TemporaryDirectory(prefix="bench-shipping-") as temporary:
        scratch = Path(temporary)
        data_dir, key, _ = licensed_box(scratch)
        payloads = batches_of(flows, events, "bench-direct")
        server, url = start_box(data_dir, scratch / "runtime")
        try:
            shipper = measure_shipper(url, key, flows, events, scratch)
            direct = measure_direct_post(url, key, payloads)
        finally:
            server.stop()
        store_floor = measure_store(data_dir, payloads)
        spool, plaintext_spool = compare_spool_encryption(payloads, scratch)
    results = {
        "records_per_batch": RECORDS_PER_BATCH,
        "mean_batch_bytes": round(sum(map(len, payloads)) / len(payloads)),
        "shipper_end_to_end": shipper,
        "peer_direct_post_no_spool": direct,
        "peer_store_enqueue_no_http": store_floor,
        "spool_append_fsync_only": spool,
        "peer_plaintext_spool_writes": plaintext_spool,
        "spool_sealing_only": measure_sealing_only(payloads),
        "encrypted_spool_vs_plaintext": round(spool["batches_per_s"] / plaintext_spool["batches_per_s"], 2),
        "shipper_vs_direct_post": round(shipper["batches_per_s"] / direct["batches_per_s"], 2),
        "direct_post_vs_store": round(direct["batches_per_s"] / store_floor["batches_per_s"], 2),
        "ingest_rate_limit_batches_per_s": 1200 / 60,
        "note": "sensor, client and 2 server workers share the machine's 2 cores",
    }
    print(json.dumps(results, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
