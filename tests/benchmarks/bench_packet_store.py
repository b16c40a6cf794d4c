"""Does keeping packets slow the sensor down? Live capture with the full pipeline, with and without the packet store.

The set-up of bench_sensor_live (tcpreplay in a throwaway network namespace on one core, the capture on the other,
a veth pair): per rate, the TPACKET_V3 ring feeding the pipeline (decode, flows, protocol metadata) alone, then the
same with the packet store's recorder tapping every block into a sealed ring on disk (a scratch directory). We
report the sensor's kernel drops and missed packets for both, and for the store what it kept and what it had to
drop itself (its queue full: the store falls behind, the sensor does not). Needs root and tcpreplay; < 2 min.

    python tests/benchmarks/bench_packet_store.py [--rates 10000,20000,40000,80000] [--seconds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from sensor.packets.recorder import PacketRecorder
from sensor.packets.ring import PacketRing
from sensor.pipeline import Pipeline
from tests.benchmarks.bench_sensor_live import (
    CAPTURE_CPU,
    FRAME_BYTES,
    SENDER_CPU,
    RingReader,
    measure,
    write_traffic,
    zero_loss_ceiling,
)
from tests.sensor_capture.netns_veth import veth_pair

RESULTS = REPO / "tests/benchmarks/results/packet_store.json"
RING_MIB = 64
STORE_BUDGET = 512 * 1024 * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rates", default="10000,20000,40000,80000")
    parser.add_argument("--seconds", type=float, default=3.0)
    args = parser.parse_args()
    if os.geteuid() != 0 or shutil.which("tcpreplay") is None:
        sys.exit("bench_packet_store: needs root and tcpreplay (apt-get install tcpreplay)")
    rates = [int(rate) for rate in args.rates.split(",")]
    os.sched_setaffinity(0, {CAPTURE_CPU})
    load_before = os.getloadavg()
    rows = []
    with tempfile.TemporaryDirectory() as scratch, veth_pair() as pair:
        pcap = Path(scratch) / "traffic.pcap"
        write_traffic(pcap)
        Pipeline().feed_file(pcap)  # warm up (imports, first allocations) outside the measurements
        for number, rate in enumerate(rates):
            row = measure("pipeline", lambda iface: RingReader(iface, RING_MIB, True, Pipeline()), pair, pcap,
                          rate, args.seconds)
            rows.append(row)
            ring = PacketRing(Path(scratch) / f"store-{number}", os.urandom(32), "bench", max_bytes=STORE_BUDGET)
            recorder = PacketRecorder(ring)
            row = measure("pipeline+packet_store",
                          lambda iface, r=recorder: RingReader(iface, RING_MIB, True, Pipeline(tap=r.offer)),
                          pair, pcap, rate, args.seconds)
            stored = recorder.close()
            row |= {"store_packets_stored": stored.packets_stored, "store_packets_dropped": stored.packets_dropped,
                    "store_bytes": stored.bytes, "store_segments_pruned": stored.segments_pruned}
            rows.append(row)
            for row in rows[-2:]:
                print(json.dumps(row))
    ceilings = {name: zero_loss_ceiling(rows, name) for name in ("pipeline", "pipeline+packet_store")}
    summary = {
        "zero_loss_ceiling_pps": ceilings,
        "kernel_drops_without_store": sum(row["kernel_drops"] for row in rows if row["reader"] == "pipeline"),
        "kernel_drops_with_store": sum(row["kernel_drops"] for row in rows if row["reader"] != "pipeline"),
        "store_packets_dropped": sum(row.get("store_packets_dropped", 0) for row in rows),
    }
    print(json.dumps(summary, indent=2))
    RESULTS.write_text(json.dumps({
        "benchmark": "packet_store",
        "frame_bytes": FRAME_BYTES,
        "seconds_per_rate": args.seconds,
        "ring_mib": RING_MIB,
        "sender": f"tcpreplay -K --pps on cpu {SENDER_CPU} in a network namespace, veth pair; capture on cpu "
                  f"{CAPTURE_CPU}",
        "kernel": platform.release(),
        "cpus": os.cpu_count(),
        "load_average_1min_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "results": rows,
        "summary": summary,
    }, indent=2) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
