"""Offline sensor, whole process: `sensor read` against a dpkt flow table, same run, time and peak memory.

Every reader runs as its own process, timed from start to exit (interpreter, imports, reading: what a user
waits for) with its peak resident memory (GNU time's %M: file pages the reader maps count too).
Captures are generated once with numpy (cached under tests/benchmarks/work/):
  mix_250k  ~264k packets, Pareto-distributed flow sizes, thousands of hosts, TCP + UDP + some ICMP
  mix       ~1.23M packets, the same traffic model (5x the packets, the same packets per flow)
  syn       400k SYN-scan packets, one packet per flow (the flow table's worst case, for the memory probe)
Readers: `sensor read --json` (with the protocol analysers), `sensor read --no-metadata --json` (flows and
counters: the work the dpkt peer does), a dpkt reader building an equivalent flow table (a script that
imports only dpkt), and `tshark -r FILE -q` (reading only, no flow table) once on mix, for scale. Also:
`sensor --help` and `sensor read` of a 5-packet file (the fixed cost) against a bare `python -c pass`, and
the resident memory of a pipeline holding 100,000 concurrent flows (measured in a fresh subprocess). Rounds
interleave the readers so they share the machine's load; each figure is the median round. About a minute
on a quiet 2-core machine once the captures exist (generating them: ~30 s, once).

    python tests/benchmarks/bench_sensor_offline.py [--rounds-250k 3] [--rounds-mix 1]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
WORK = ROOT / "tests" / "benchmarks" / "work"
RESULTS = ROOT / "tests" / "benchmarks" / "results" / "sensor_offline.json"
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}  # the checkout's code, in every child process
STARTS = 5  # runs of `sensor --help` and of the bare interpreter
TIME = "/usr/bin/time"  # GNU time: a child's peak resident memory

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

DPKT_PEER = """
import sys
import dpkt

flows = {}
count = 0
with open(sys.argv[1], "rb") as file:
    for ts, frame in dpkt.pcap.Reader(file):
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
print(count, len(flows))
"""


def run_process(command: list[str]) -> tuple[float, float, bytes]:
    """Wall seconds from start to exit, peak RSS in MB, and stdout of one child process. The peak comes from
    /usr/bin/time: a child this process starts itself (vfork) inherits this process's own peak, since the
    kernel keeps the larger of the old and the new image's at exec."""
    with tempfile.NamedTemporaryFile("r") as peak:
        started = time.perf_counter()
        done = subprocess.run([TIME, "-f", "%M", "-o", peak.name, *command], capture_output=True, env=ENV, cwd=ROOT)
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(f"{command} failed: {done.stderr.decode(errors='replace')}")
        return seconds, int(peak.read().split()[-1]) / 1024, done.stdout


def sensor_read(*options: str):
    def run(path: Path) -> dict:
        seconds, rss, out = run_process([sys.executable, "-m", "sensor", "read", "--json", *options, str(path)])
        summary = json.loads(out.splitlines()[-1])
        return {"seconds": seconds, "peak_rss_mb": rss, "packets": summary["packets"], "flows": summary["flows"]}

    return run


def dpkt_peer(path: Path) -> dict:
    seconds, rss, out = run_process([sys.executable, "-c", DPKT_PEER, str(path)])
    packets, flows = (int(x) for x in out.split())
    return {"seconds": seconds, "peak_rss_mb": rss, "packets": packets, "flows": flows}


def tshark(path: Path) -> dict:
    seconds, rss, _ = run_process(["tshark", "-r", str(path), "-q"])
    return {"seconds": seconds, "peak_rss_mb": rss, "note": "tshark -r FILE -q: reading only, no flow table"}


READERS = {"sensor read": sensor_read(), "sensor read --no-metadata": sensor_read("--no-metadata"),
           "dpkt + flow table": dpkt_peer}


def median_run(runs: list[dict]) -> dict:
    """The run with the median time, with the highest peak RSS of all runs and every time."""
    middle = sorted(runs, key=lambda run: run["seconds"])[len(runs) // 2]
    return {**middle, "peak_rss_mb": max(run["peak_rss_mb"] for run in runs),
            "all_seconds": [round(run["seconds"], 3) for run in runs]}


def warm_page_cache(path: Path) -> None:
    """Every reader starts from memory, the first as the others."""
    with open(path, "rb") as file:
        while file.read(1 << 24):
            pass


def read_capture(path: Path, rounds: int) -> dict:
    runs: dict[str, list[dict]] = {name: [] for name in READERS}
    for _ in range(rounds):
        for name, reader in READERS.items():
            runs[name].append(reader(path))
    result = {name: median_run(name_runs) for name, name_runs in runs.items()}
    for run in result.values():
        run["packets_per_second"] = run["packets"] / run["seconds"]
    return result


def start_up(tiny_capture: Path) -> dict:
    """What a command costs before it has work: `sensor read` of a 5-packet file is its fixed cost."""

    def median_seconds(command: list[str]) -> float:
        return statistics.median(run_process(command)[0] for _ in range(STARTS))

    sensor = [sys.executable, "-m", "sensor"]
    return {"sensor --help": median_seconds([*sensor, "--help"]),
            "sensor read, 5 packets": median_seconds([*sensor, "read", "--json", str(tiny_capture)]),
            "sensor read --no-metadata, 5 packets": median_seconds([*sensor, "read", "--json", "--no-metadata",
                                                                     str(tiny_capture)]),
            "python -c pass": median_seconds([sys.executable, "-c", "pass"])}


MEMORY_PROBE = """
import gc, sys
from sensor.pipeline import Pipeline
from sensor.pcap import CaptureFile
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096
pipeline = Pipeline(extractor=None)
gc.collect()
before = rss()
capture = CaptureFile({path!r})
batch = next(capture.batches(100_000))
pipeline.feed_batch(batch)
del batch, capture
gc.collect()
print(pipeline.active_flows, before, rss())
"""


def memory_at_100k_flows(syn_path: Path) -> dict:
    probe = MEMORY_PROBE.format(path=str(syn_path))
    _, _, out = run_process([sys.executable, "-c", probe])
    flows, before, after = (int(x) for x in out.split())
    return {"concurrent_flows": flows, "rss_before_mb": before / 2**20, "rss_after_mb": after / 2**20,
            "table_mb": (after - before) / 2**20}


# ---- the run -----------------------------------------------------------------------------------

def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds-250k", type=int, default=3)
    parser.add_argument("--rounds-mix", type=int, default=1)
    options = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    captures = {"mix_250k": WORK / "offline_mix_250k.pcap", "mix": WORK / "offline_mix.pcap",
                "syn": WORK / "offline_syn_scan.pcap"}
    makers = {"mix_250k": lambda path: make_mix(path, target=250_000), "mix": make_mix, "syn": make_syn_scan}
    for name, path in captures.items():
        if not path.exists():
            started = time.perf_counter()
            makers[name](path)
            print(f"generated {path.name} in {time.perf_counter() - started:.1f}s")
    started = time.perf_counter()
    tiny = WORK / "offline_tiny.pcap"
    make_syn_scan(tiny, count=5)
    results: dict = {"start_up_seconds": start_up(tiny), "captures": {}}
    for name, rounds in (("mix_250k", options.rounds_250k), ("mix", options.rounds_mix)):
        path = captures[name]
        warm_page_cache(path)
        runs = read_capture(path, rounds)
        if shutil.which("tshark") is not None and name == "mix":
            runs["tshark -q"] = tshark(path)
        peer = runs["dpkt + flow table"]
        for run in runs.values():
            run["dpkt_seconds_vs_this"] = peer["seconds"] / run["seconds"]
            run["dpkt_rss_vs_this"] = peer["peak_rss_mb"] / run["peak_rss_mb"]
        results["captures"][name] = {"file": path.name, "bytes": path.stat().st_size, "rounds": rounds,
                                     "packets": peer["packets"], "runs": runs}
    results["memory"] = memory_at_100k_flows(captures["syn"])
    results["summary"] = summary(results, time.perf_counter() - started)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print_table(results)


def summary(results: dict, seconds: float) -> dict:
    """The headline figures: start-up, and per capture each reader's time ratio to dpkt and peak memory."""
    starts = results["start_up_seconds"]
    figures = {"sensor_help_seconds": starts["sensor --help"], "python_start_seconds": starts["python -c pass"],
               "sensor_read_5_packets_seconds": starts["sensor read, 5 packets"]}
    for capture, label in (("mix_250k", "250k"), ("mix", "1.23m")):
        runs = results["captures"][capture]["runs"]
        for reader in READERS:
            key = reader.replace(" --", "_").replace(" + flow table", "").replace(" ", "_").replace("-", "_")
            figures[f"{key}_peak_rss_mb_{label}"] = runs[reader]["peak_rss_mb"]
            if reader != "dpkt + flow table":
                figures[f"{key}_vs_dpkt_whole_process_{label}"] = runs[reader]["dpkt_seconds_vs_this"]
    figures["bench_seconds"] = seconds
    return figures


def print_table(results: dict) -> None:
    starts = results["start_up_seconds"]
    print(", ".join(f"{command} {seconds:.3f}s" for command, seconds in starts.items()) + f" (median of {STARTS})")
    print(f"\n{'capture':9} {'reader':26} {'packets':>9} {'seconds':>8} {'peak MB':>8} {'dpkt s/this':>11}")
    for name, capture in results["captures"].items():
        for reader, run in capture["runs"].items():
            print(f"{name:9} {reader:26} {run.get('packets', capture['packets']):>9} {run['seconds']:>8.2f} "
                  f"{run['peak_rss_mb']:>8.0f} {run['dpkt_seconds_vs_this']:>11.2f}")
    memory = results["memory"]
    print(f"\nflow table at {memory['concurrent_flows']:,} concurrent flows: "
          f"+{memory['table_mb']:.0f} MB RSS (process {memory['rss_after_mb']:.0f} MB)")
    print(f"whole benchmark (captures cached): {results['summary']['bench_seconds']:.0f}s")
    print(f"results: {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
