"""Protocol metadata throughput, side by side with dpkt and scapy parsing the same real payloads.

Run: python tests/benchmarks/bench_sensor_protocols.py  (writes tests/benchmarks/results/sensor_protocols.json)
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import dpkt
from scapy.all import BOOTP, DNS
from scapy.layers.tls.all import TLS

from sensor.protocols import MetadataExtractor, PacketContext
from sensor.protocols.dhcp import DhcpExtractor
from sensor.protocols.dns import DnsExtractor
from sensor.protocols.tls import TlsExtractor
from tests.sensor_protocols.protocol_payloads import capture_payloads

RESULTS = ROOT / "tests" / "benchmarks" / "results" / "sensor_protocols.json"
MIN_SECONDS = 0.4  # per repetition; best of three is reported

Pairs = list[tuple[PacketContext, bytes]]


def rate(work: Callable[[], int]) -> float:
    """Packets per second of `work` (which returns how many packets it handled), best of three runs."""
    best = 0.0
    for _ in range(3):
        handled = 0
        started = time.perf_counter()
        while time.perf_counter() - started < MIN_SECONDS:
            handled += work()
        best = max(best, handled / (time.perf_counter() - started))
    return best


def through_extractor(pairs: Pairs) -> Callable[[], int]:
    """The sensor's path: `interested` once per flow, then `on_payload` for interested flows."""

    def work() -> int:
        extractor = MetadataExtractor()
        decided: dict[str, bool] = {}
        for ctx, payload in pairs:
            interested = decided.get(ctx.flow_uid)
            if interested is None:
                interested = decided[ctx.flow_uid] = extractor.interested(
                    ctx.proto, ctx.src_port, ctx.dst_port
                )
            if interested:
                extractor.on_payload(ctx, payload)
        return len(pairs)

    return work


def each(parse: Callable[[PacketContext, bytes], object], pairs: Pairs) -> Callable[[], int]:
    def work() -> int:
        for ctx, payload in pairs:
            parse(ctx, payload)
        return len(pairs)

    return work


def main() -> None:
    dns = capture_payloads("dns-tunnel-txt.pcap")
    dhcp = capture_payloads("dhcp-request-flood.pcap")[:2000]
    hello = capture_payloads("tls-handshake.pcap")[:1] * 200
    encrypted = capture_payloads("rdp-session.pcap") + capture_payloads("icmp-and-ssh.pcap")
    mix = (
        dns
        + dhcp[:200]
        + hello[:1]
        + encrypted
        + capture_payloads("smb1-session.pcap")
        + capture_payloads("kerberoast.pcap")
        + capture_payloads("modbus.pcap")
        + capture_payloads("dnp3-write.pcap")
        + capture_payloads("ftp-cleartext-login.pcap")
        + capture_payloads("http-post-file.pcap")
        + capture_payloads("quic.pcap")
    )
    dns_ours, dhcp_ours, tls_ours = DnsExtractor(), DhcpExtractor(), TlsExtractor()
    results = {
        "mixed_captures": {"packets": len(mix), "ours_pps": rate(through_extractor(mix))},
        "encrypted_rdp_ssh_payloads": {
            "packets": len(encrypted),
            "ours_pps": rate(through_extractor(encrypted)),
        },
        "dns": {
            "packets": len(dns),
            "ours_pps": rate(each(dns_ours.on_payload, dns)),
            "dpkt_pps": rate(each(lambda _c, p: dpkt.dns.DNS(p), dns)),
            "scapy_pps": rate(each(lambda _c, p: DNS(p), dns)),
        },
        "dhcp": {
            "packets": len(dhcp),
            "ours_pps": rate(each(dhcp_ours.on_payload, dhcp)),
            "dpkt_pps": rate(each(lambda _c, p: dpkt.dhcp.DHCP(p), dhcp)),
            "scapy_pps": rate(each(lambda _c, p: BOOTP(p), dhcp)),
        },
        "tls_client_hello_with_ja3_ja4": {
            "packets": len(hello),
            "ours_pps": rate(each(tls_ours.on_payload, hello)),
            "dpkt_parse_only_pps": rate(each(lambda _c, p: dpkt.ssl.TLS(p), hello)),
            "scapy_parse_only_pps": rate(each(lambda _c, p: TLS(p), hello)),
        },
    }
    for name, row in results.items():
        ours = row["ours_pps"]
        peers = {k: v for k, v in row.items() if k.endswith("_pps") and k != "ours_pps"}
        for peer, pps in peers.items():
            row[f"ratio_vs_{peer.removesuffix('_pps')}"] = round(ours / pps, 1)
        line = ", ".join(
            f"{k}={v:,.0f}" if isinstance(v, float) and k.endswith("pps") else f"{k}={v}"
            for k, v in row.items()
        )
        print(f"{name}: {line}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
