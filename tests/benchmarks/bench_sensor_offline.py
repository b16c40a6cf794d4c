"""Offline sensor speed: `sensor read` (this project's pipeline) against dpkt, scapy and tshark, same run.

Two captures are generated once with numpy (cached under tests/benchmarks/work/):
  mix   >= 1.2M packets, Pareto-distributed flow sizes, thousands of hosts, TCP + UDP + some ICMP
  syn   400k SYN-scan packets, one packet per flow (the flow table's worst case)
Peers: a dpkt reader building an equivalent flow table (whole file), scapy (a 20k-packet slice,
extrapolated), `tshark -r FILE -q` (plain reading, no flow table). Also: resident memory of a pipeline
holding 100,000 concurrent flows (measured in a fresh subprocess).

    python tests/benchmarks/bench_sensor_offline.py
"""

from __future__ import annotations

import json
import shutil
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
WORK = ROOT / "tests" / "benchmarks" / "work"
RESULTS = ROOT / "tests" / "benchmarks" / "results" / "sensor_offline.json"
SCAPY_SLICE = 20_000

from sensor.pcap import CaptureFile
from sensor.pipeline import Pipeline

# ---- generating captures ---------------------------------------------------------------------------

def _write_pcap(path: Path, ts, src, dst, sport, dport, proto, flags, payload, icmp_type) -> None:
    """Ethernet/IPv4/{TCP,UDP,ICMP} frames with zero payload bytes, written with numpy in one go."""
    n = len(ts)
    l4_header = np.select([proto == 6, proto == 17], [20, 8], 8)
    ip_len = 20 + l4_header + payload
    frame_len = 14 + ip_len
    record = 16 + frame_len
    offsets = np.zeros(n, dtype=np.int64)
    np.cumsum(record[:-1], out=offsets[1:])
    offsets += 24
    out = np.zeros(24 + int(record.sum()), dtype=np.uint8)
    out[:24] = np.frombuffer(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1), dtype=np.uint8)
    header = np.zeros((n, 16 + 54), dtype=np.uint8)

    def put(column: int, values, size: int) -> None:
        values = np.asarray(values, dtype=np.uint64)
        for k in range(size):
            header[:, column + k] = (values >> np.uint64(8 * (size - 1 - k))) & np.uint64(0xFF)

    def put_le32(column: int, values) -> None:
        values = np.asarray(values, dtype=np.uint64)
        for k in range(4):
            header[:, column + k] = (values >> np.uint64(8 * k)) & np.uint64(0xFF)

    seconds = np.floor(ts)
    put_le32(0, seconds)
    put_le32(4, np.round((ts - seconds) * 1e6))
    put_le32(8, frame_len)
    put_le32(12, frame_len)
    e = 16
    put(e, 0x020000000000 | (dst & 0xFFFFFF), 6)
    put(e + 6, 0x020000000000 | (src & 0xFFFFFF), 6)
    put(e + 12, 0x0800, 2)
    i = e + 14
    header[:, i] = 0x45
    put(i + 2, ip_len, 2)
    put(i + 4, np.arange(n) & 0xFFFF, 2)
    put(i + 6, 0x4000, 2)
    header[:, i + 8] = 64
    header[:, i + 9] = proto
    put(i + 12, src, 4)
    put(i + 16, dst, 4)
    t = i + 20
    icmp = proto == 1
    put(t, np.where(icmp, icmp_type << 8, sport), 2)
    put(t + 2, np.where(icmp, 0, dport), 2)
    tcp = proto == 6
    header[:, t + 12] = np.where(tcp, 0x50, 0)
    header[:, t + 13] = np.where(tcp, flags, 0)
    put(t + 14, np.where(tcp, 65535, 0), 2)
    put(t + 4, np.where(proto == 17, 8 + payload, np.where(tcp, np.arange(n), 0)), 2)
    width = 16 + 14 + 20 + l4_header
    for size in np.unique(width).tolist():
        rows = np.flatnonzero(width == size)
        out[offsets[rows, None] + np.arange(size)] = header[rows, :size]
    path.write_bytes(out.tobytes())


def make_mix(path: Path, target: int = 1_200_000, seed: int = 1) -> None:
    rng = np.random.default_rng(seed)
    sizes = []
    total = 0
    while total < target:
        s = np.minimum(np.ceil(rng.pareto(1.1, 20000) * 3).astype(np.int64) + 1, 200_000)
        sizes.append(s)
        total += int(s.sum())
    sizes = np.concatenate(sizes)
    sizes = sizes[np.cumsum(sizes) <= target + sizes.max()]
    flows = len(sizes)
    kind = rng.choice([6, 17, 1], size=flows, p=[0.75, 0.22, 0.03])
    sizes = np.where(kind == 1, np.minimum(sizes, 20), sizes)
    client = 0x0A000000 | rng.integers(1, 5000, flows)
    server = 0xC0A80000 | rng.integers(1, 60000, flows) | (rng.integers(1, 220, flows) << 24)
    sport = rng.integers(1024, 65535, flows)
    dport = rng.choice([80, 443, 53, 22, 3389, 445, 8080, 25], size=flows)
    dport = np.where(kind == 17, rng.choice([53, 123, 5353, 161], size=flows), dport)
    duration = 600.0
    start = rng.uniform(0, duration, flows)
    flow = np.repeat(np.arange(flows), sizes)
    position = np.arange(len(flow)) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    gaps = rng.exponential(0.02, len(flow))
    gaps[position == 0] = 0
    ts = start[flow] + np.cumsum(gaps) - np.repeat(np.cumsum(gaps)[np.cumsum(sizes) - sizes], sizes)
    size_of = sizes[flow]
    proto = kind[flow]
    from_orig = np.where(position < 3, position != 1, rng.random(len(flow)) < 0.4)
    last = position >= size_of - 2
    from_orig = np.where(last & (size_of > 4), position == size_of - 2, from_orig)
    flags = np.where(position == 0, 0x02, np.where(position == 1, 0x12, 0x10))
    data = (position >= 3) & ~last & (rng.random(len(flow)) < 0.6)
    flags = np.where(data, 0x18, flags)
    flags = np.where(last & (size_of > 4), 0x11, flags)
    payload = np.where(data, np.where(from_orig, rng.integers(1, 600, len(flow)), 1460), 0)
    payload = np.where(proto == 17, rng.integers(20, 1200, len(flow)), payload)
    payload = np.where(proto == 1, 56, payload)
    from_orig = np.where(proto == 1, position % 2 == 0, from_orig)
    icmp_type = np.where(from_orig, 8, 0)
    src = np.where(from_orig, client[flow], server[flow])
    dst = np.where(from_orig, server[flow], client[flow])
    sp = np.where(from_orig, sport[flow], dport[flow])
    dp = np.where(from_orig, dport[flow], sport[flow])
    order = np.argsort(ts, kind="stable")
    _write_pcap(path, 1_700_000_000 + ts[order], src[order], dst[order], sp[order], dp[order], proto[order],
                flags[order], payload[order], icmp_type[order])


def make_syn_scan(path: Path, count: int = 400_000, seed: int = 2) -> None:
    rng = np.random.default_rng(seed)
    ts = 1_700_000_000 + np.sort(rng.uniform(0, 20, count))
    src = 0x0A000000 | rng.integers(1, 1 << 20, count)
    dst = 0xC0A80000 | rng.integers(1, 1 << 16, count)
    zeros = np.zeros(count, dtype=np.int64)
    _write_pcap(path, ts, src, dst, rng.integers(1024, 65535, count), rng.integers(1, 1024, count),
                np.full(count, 6), np.full(count, 0x02), zeros, zeros)


# ---- readers -------------------------------------------------------------------------------------

def run_ours(path: Path) -> dict:
    started = time.perf_counter()
    pipeline = Pipeline(extractor=None)
    pipeline.feed_file(path)
    drained = pipeline.close()
    seconds = time.perf_counter() - started
    return {"packets": drained.stats.packets, "flows": len(drained.flows), "seconds": seconds}


def run_ours_with_metadata(path: Path) -> dict:
    started = time.perf_counter()
    pipeline = Pipeline()
    pipeline.feed_file(path)
    drained = pipeline.close()
    seconds = time.perf_counter() - started
    return {"packets": drained.stats.packets, "flows": len(drained.flows), "events": len(drained.events),
            "seconds": seconds}


def _dpkt_flows(packets) -> dict:
    import dpkt

    flows: dict = {}
    count = 0
    for ts, frame in packets:
        count += 1
        try:
            ip = dpkt.ethernet.Ethernet(frame).data
        except dpkt.UnpackError:
            continue
        if not isinstance(ip, dpkt.ip.IP):
            continue
        l4 = ip.data
        sport = getattr(l4, "sport", 0)
        dport = getattr(l4, "dport", 0)
        a, b = (ip.src, sport), (ip.dst, dport)
        key = (a, b, ip.p) if a <= b else (b, a, ip.p)
        flow = flows.get(key)
        if flow is None:
            flow = flows[key] = [ts, ts, a, 0, 0, 0, 0, 0]
        orig = (ip.src, sport) == flow[2]
        flow[1] = ts
        flow[3 if orig else 4] += 1
        flow[5 if orig else 6] += ip.len
        if isinstance(l4, dpkt.tcp.TCP):
            flow[7] |= l4.flags
    return {"packets": count, "flows": len(flows)}


def run_dpkt(path: Path) -> dict:
    import dpkt

    started = time.perf_counter()
    with open(path, "rb") as file:
        result = _dpkt_flows(dpkt.pcap.Reader(file))
    result["seconds"] = time.perf_counter() - started
    return result


def run_scapy(path: Path) -> dict:
    from scapy.layers.inet import IP, TCP
    from scapy.utils import PcapReader

    started = time.perf_counter()
    flows: dict = {}
    count = 0
    with PcapReader(str(path)) as reader:
        for packet in reader:
            count += 1
            if IP in packet:
                ip = packet[IP]
                l4 = ip.payload
                a, b = (ip.src, getattr(l4, "sport", 0)), (ip.dst, getattr(l4, "dport", 0))
                key = (a, b, ip.proto) if a <= b else (b, a, ip.proto)
                flow = flows.setdefault(key, [0, 0, 0])
                flow[0] += 1
                flow[1] += ip.len
                if TCP in packet:
                    flow[2] |= int(packet[TCP].flags)
            if count == SCAPY_SLICE:
                break
    return {"packets": count, "flows": len(flows), "seconds": time.perf_counter() - started,
            "note": f"first {SCAPY_SLICE} packets only, packets/s extrapolated"}


def run_tshark(path: Path) -> dict | None:
    if shutil.which("tshark") is None:
        return None
    started = time.perf_counter()
    subprocess.run(["tshark", "-r", str(path), "-q"], check=True, capture_output=True)
    return {"seconds": time.perf_counter() - started, "note": "tshark -r FILE -q: reading only, no flow table"}


MEMORY_PROBE = """
import gc, sys, time
sys.path.insert(0, {root!r})
import numpy as np
from sensor.pipeline import Pipeline
from sensor.pcap import CaptureFile
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096
pipeline = Pipeline(extractor=None)
next(CaptureFile({path!r}).batches(1))  # load the compiled record walker before the baseline
gc.collect()
before = rss()
capture = CaptureFile({path!r})
batch = next(capture.batches(100_000))
pipeline.feed_batch(batch)
del batch, capture
gc.collect()
print(pipeline.active_flows, before, rss())
"""


def median_of(times: int, reader, path: Path) -> dict | None:
    """The run with the median time of `times` runs: one run on a shared machine is too noisy to compare."""
    runs = [reader(path) for _ in range(times)]
    if any(run is None for run in runs):
        return None
    return sorted(runs, key=lambda run: run["seconds"])[times // 2]


def memory_at_100k_flows(syn_path: Path) -> dict:
    probe = MEMORY_PROBE.format(root=str(ROOT), path=str(syn_path))
    out = subprocess.run([sys.executable, "-c", probe], check=True, capture_output=True, text=True).stdout
    flows, before, after = (int(x) for x in out.split())
    return {"concurrent_flows": flows, "rss_before_mb": before / 2**20, "rss_after_mb": after / 2**20,
            "table_mb": (after - before) / 2**20}


# ---- the run -----------------------------------------------------------------------------------

def main() -> None:
    WORK.mkdir(parents=True, exist_ok=True)
    captures = {"mix": WORK / "offline_mix.pcap", "syn": WORK / "offline_syn_scan.pcap"}
    makers = {"mix": make_mix, "syn": make_syn_scan}
    for name, path in captures.items():
        if not path.exists():
            started = time.perf_counter()
            makers[name](path)
            print(f"generated {path.name} in {time.perf_counter() - started:.1f}s")
    results: dict = {"captures": {}}
    for name, path in captures.items():
        for _ in range(2):  # warm the page cache so every reader starts from memory
            path.read_bytes()
        # Load the compiled record walker (numba's cache) once, as a running sensor has: start-up, not throughput.
        next(CaptureFile(path).batches(1))
        ours = median_of(3, run_ours, path)
        runs = {"sensor read": ours, "sensor read + metadata": median_of(3, run_ours_with_metadata, path),
                "dpkt + flow table": median_of(3, run_dpkt, path), "scapy + flow table": run_scapy(path)}
        tshark = median_of(3, run_tshark, path)
        if tshark is not None:
            tshark["packets"] = ours["packets"]
            runs["tshark -q"] = tshark
        for run in runs.values():
            run["packets_per_second"] = run["packets"] / run["seconds"]
        for run in runs.values():
            run["ours_vs_this"] = ours["packets_per_second"] / run["packets_per_second"]
        results["captures"][name] = {"file": path.name, "bytes": path.stat().st_size,
                                     "packets": ours["packets"], "flows": ours["flows"], "runs": runs}
    results["memory"] = memory_at_100k_flows(captures["syn"])
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print(f"\n{'capture':8} {'reader':26} {'packets':>9} {'seconds':>8} {'packets/s':>11} {'ours/this':>9}")
    for name, capture in results["captures"].items():
        for reader, run in capture["runs"].items():
            print(f"{name:8} {reader:26} {run['packets']:>9} {run['seconds']:>8.2f} "
                  f"{run['packets_per_second']:>11,.0f} {run['ours_vs_this']:>9.2f}")
    memory = results["memory"]
    print(f"\nflow table at {memory['concurrent_flows']:,} concurrent flows: "
          f"+{memory['table_mb']:.0f} MB RSS (process {memory['rss_after_mb']:.0f} MB)")
    print(f"scapy ran on the first {SCAPY_SLICE:,} packets; its packets/s is extrapolated to the whole file")
    print(f"results: {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
