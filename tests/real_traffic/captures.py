"""Real captures nobody on this project wrote, what is known to be in them, and one way to run a capture
through the box's own sensor pipeline, rules and scorer.

- the shared captures (../shared/data/pcaps, MANIFEST.md): 8 labelled attacks and 7 benign captures;
- the Zeek and suricata-verify test traces beside them: unlabelled, but a few hold attacks, listed in
  ATTACKS_IN_TRACES after reading their packets; every HIGH or CRITICAL alert any of them raises must have a
  written justification in justifications.json.
"""

from __future__ import annotations

import json
from pathlib import Path

from appliance.engine.detection import Detection
from appliance.engine.network import SiteConfig
from model_building.corpus import decode, detect
from tests.shared_data import PCAPS, shared_files

COLLECTIONS = {"zeek-traces": PCAPS / "zeek-traces", "suricata-verify": PCAPS / "suricata-verify"}
CAPTURE_SUFFIXES = (".pcap", ".pcapng", ".cap")
JUSTIFICATIONS = Path(__file__).with_name("justifications.json")

# file -> {(rule, source, destination)}; "" = many destinations. From MANIFEST.md, with one correction: the
# manifest names 10.0.0.3 for modbus.pcap, but the write requests go 10.0.0.9:3082 -> 10.0.0.3:502, so
# 10.0.0.3 is the PLC being written to (it only echoes the function codes) and 10.0.0.9 is the writer.
SHARED_EXPECTED: dict[str, set[tuple[str, str, str]]] = {
    "dns-tunnel-txt.pcap": {("DNS_TUNNELING", "10.30.28.90", "")},
    "modbus.pcap": {("OT_UNAUTHORIZED_WRITE", "10.0.0.9", "10.0.0.3")},
    "dnp3-write.pcap": {("OT_UNAUTHORIZED_WRITE", "130.126.142.250", "130.126.140.229")},
    "arp-scan.pcap": {("NETWORK_SWEEP", "192.168.1.247", "")},
    "icmp-portscan.pcap": {("NETWORK_SWEEP", "192.168.1.109", "")},
    "dhcp-request-flood.pcap": {("ROGUE_DHCP", "0.0.0.0", "")},
    "kerberoast.pcap": {("KERBEROASTING", "10.0.0.2", "10.0.0.6")},
    "ftp-cleartext-login.pcap": {("CLEARTEXT_CREDENTIALS", "172.23.0.3", "172.23.0.2")},
    "tls-handshake.pcap": set(),
    "quic.pcap": set(),
    "rdp-session.pcap": set(),
    "smb1-session.pcap": set(),
    "http-post-file.pcap": set(),
    "icmp-and-ssh.pcap": set(),
    "arp-single.pcap": set(),
}

# Attacks read out of the test traces' packets (collection/path -> {(rule, source)}).
ATTACKS_IN_TRACES: dict[str, set[tuple[str, str]]] = {
    # 30 FTP logins by 192.168.56.1, every one answered "530 Login incorrect", within a minute
    "zeek-traces/ftp/bruteforce.pcap": {("BRUTE_FORCE", "192.168.56.1")},
    # 250 DHCP INFORMs from one MAC (90:b1:1c:99:49:29) in 5 s, each from another address, each answered
    "zeek-traces/dhcp/dhcp_flood.pcap": {("ROGUE_DHCP", "128.2.5.243")},
    # an RC4 (etype 23) service ticket for http/1027814774sa to a client that offered AES
    "suricata-verify/krb5-krb5_msg_type/input.pcap": {("KERBEROASTING", "172.31.222.157")},
}


def trace_files(collection: str) -> list[Path]:
    root = COLLECTIONS[collection]
    return [path for path in shared_files(root, "**/*") if path.suffix in CAPTURE_SUFFIXES]


def incidents(path: Path, site: SiteConfig | None = None) -> list[Detection]:
    """Every incident the rules raise on one capture, in its last (most complete) update."""
    detections = detect(decode(path), site or SiteConfig(), {})
    return list({detection.incident_key: detection for detection in detections}.values())


def justifications() -> dict[tuple[str, str, str], str]:
    """(collection/path, rule, source) -> why the HIGH or CRITICAL alert stands."""
    return {(entry["capture"], entry["rule"], entry["source"]): entry["why"]
            for entry in json.loads(JUSTIFICATIONS.read_text())["alerts"]}
