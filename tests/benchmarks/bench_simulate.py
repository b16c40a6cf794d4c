"""Traffic simulator benchmark: how fast scenarios are generated and written, and how fast they replay.

Peer for generation: scapy building and writing the same kind of frames (Ether/IP/TCP with payload),
the usual way to craft traffic in Python. Peer for replay: scapy's sendp on the same veth.
Run: python tests/benchmarks/bench_simulate.py  -> tests/benchmarks/results/simulate.json
"""

import json
import os
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO))

from scapy.all import IP, TCP, Ether, Raw, wrpcap

from appliance.simulate import write
from appliance.simulate.pcap import read_pcap

PEER_FRAMES = 20_000
SCAPY_SENDER = """
import sys, time
from scapy.all import rdpcap, sendp
frames = rdpcap(sys.argv[1], count=int(sys.argv[3]))
began = time.perf_counter()
sendp(frames, iface=sys.argv[2], verbose=False)
print(len(frames) / (time.perf_counter() - began))
"""


def generation(scenario: str, duration: float, directory: Path) -> dict:
    out = directory / f"{scenario}.pcap"
    began = time.perf_counter()
    summary = write(scenario, out, seed=1, duration=duration)
    seconds = time.perf_counter() - began
    return {
        "scenario": scenario,
        "duration_s": duration,
        "packets": summary.packets,
        "seconds": round(seconds, 3),
        "packets_per_s": round(summary.packets / seconds),
        "megabytes": round(out.stat().st_size / 1e6, 1),
    }


def scapy_generation(directory: Path) -> dict:
    frames = []
    began = time.perf_counter()
    for index in range(PEER_FRAMES):
        frames.append(
            Ether(src="f8:bc:12:00:00:01", dst="00:1b:54:00:00:01")
            / IP(src="10.20.10.101", dst="198.51.100.7")
            / TCP(sport=50000, dport=443, seq=index * 1000, flags="A")
            / Raw(b"\x17" * (index % 1400))
        )
    wrpcap(str(directory / "scapy.pcap"), frames)
    seconds = time.perf_counter() - began
    return {"frames": PEER_FRAMES, "seconds": round(seconds, 3), "packets_per_s": round(PEER_FRAMES / seconds)}


def replay_rates(pcap: Path) -> dict:
    """Replay into a veth pair inside a namespace made here (nothing leaves the machine)."""
    tag = secrets.token_hex(3)
    namespace, sender = f"simbench-{tag}", f"simb{tag}"
    subprocess.run(["ip", "netns", "add", namespace], check=True)
    try:
        subprocess.run(
            ["ip", "-n", namespace, "link", "add", sender, "type", "veth", "peer", "name", f"simc{tag}"], check=True
        )
        for iface in (sender, f"simc{tag}"):
            subprocess.run(["ip", "-n", namespace, "link", "set", iface, "up"], check=True)
        frames = sum(1 for _ in read_pcap(pcap))
        began = time.perf_counter()
        subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                namespace,
                sys.executable,
                "-m",
                "appliance.simulate.replay",
                str(pcap),
                "--iface",
                sender,
                "--fast",
            ],
            check=True,
            capture_output=True,
            env={**os.environ, "PYTHONPATH": str(REPO)},
        )
        ours = frames / (time.perf_counter() - began)
        peer_frames = 5000
        peer = subprocess.run(
            [
                "ip",
                "netns",
                "exec",
                namespace,
                sys.executable,
                "-c",
                SCAPY_SENDER,
                str(pcap),
                sender,
                str(peer_frames),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        return {
            "frames": frames,
            "ours_packets_per_s": round(ours),
            "scapy_sendp_packets_per_s": round(float(peer.stdout)),
            "ratio": round(ours / float(peer.stdout), 1),
        }
    finally:
        subprocess.run(["ip", "netns", "del", namespace], check=True)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        runs = [
            generation("benign-office", 600, directory),
            generation("mixed", 600, directory),
            generation("mixed", 3600, directory),
        ]
        peer = scapy_generation(directory)
        replay = replay_rates(directory / "mixed.pcap") if os.geteuid() == 0 else None
    best = max(run["packets_per_s"] for run in runs)
    result = {
        "generation": runs,
        "scapy_peer": peer,
        "generation_ratio_vs_scapy": round(best / peer["packets_per_s"], 1),
        "replay_fast_mode": replay,
    }
    print(json.dumps(result, indent=2))
    out = REPO / "tests" / "benchmarks" / "results" / "simulate.json"
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
