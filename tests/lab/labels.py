"""Labels from the capture itself: packet counts and first/last times of each labelled event, read by tshark."""

from __future__ import annotations

import json
import platform
import subprocess
from datetime import UTC, datetime
from pathlib import Path


def packet_count(pcap: Path) -> int:
    out = subprocess.run(["capinfos", "-T", "-r", "-c", str(pcap)], capture_output=True, text=True, check=True)
    return int(out.stdout.split("\t")[1])


def event_span(pcap: Path, display_filter: str) -> dict:
    """How many packets match the event's filter, and the times of the first and the last one."""
    out = subprocess.run(
        ["tshark", "-n", "-r", str(pcap), "-Y", display_filter, "-T", "fields", "-e", "frame.time_epoch"],
        capture_output=True,
        text=True,
        check=True,
    )
    times = [float(line) for line in out.stdout.split()]
    if not times:
        return {"packets": 0, "first_packet_time": None, "last_packet_time": None}
    return {
        "packets": len(times),
        "first_packet_time": round(times[0], 6),
        "last_packet_time": round(times[-1], 6),
        "first_packet_utc": datetime.fromtimestamp(times[0], UTC).isoformat(timespec="milliseconds"),
        "last_packet_utc": datetime.fromtimestamp(times[-1], UTC).isoformat(timespec="milliseconds"),
    }


def active_hosts(pcap: Path, hosts: list[dict]) -> list[dict]:
    """The background hosts that sent something during this capture (a 60 s poller may miss a short one)."""
    out = subprocess.run(
        ["tshark", "-n", "-r", str(pcap), "-Y", "ip", "-T", "fields", "-e", "ip.src"],
        capture_output=True,
        text=True,
        check=True,
    )
    sources = set(out.stdout.split())
    return [host for host in hosts if host["ip"] in sources]


def tool_versions(packages: list[str]) -> dict[str, str]:
    versions = {}
    for package in packages:
        out = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", package], capture_output=True, text=True)
        if out.returncode == 0:
            versions[package] = out.stdout
    import requests
    import websockets

    versions["python requests"] = requests.__version__
    versions["python websockets"] = websockets.__version__
    versions["linux kernel"] = platform.release()
    return versions


def write_outputs(out: Path, results: dict[str, dict], packages: list[str]) -> None:
    labels_path = out / "labels.json"
    labels = json.loads(labels_path.read_text()) if labels_path.exists() else {"captures": {}}
    for capture in results.values():
        capture["hosts"] = active_hosts(out / capture["file"], capture["hosts"])
    labels["captures"].update(results)
    labels["captures"] = dict(sorted(labels["captures"].items()))
    labels["tool_versions"] = {**labels.get("tool_versions", {}), **tool_versions(packages)}
    labels["about"] = (
        "Captures made by tests/lab/make_captures.py: real Debian tools and servers in network namespaces, "
        "captured on the lab switch (a Linux bridge, promiscuous) as a mirror port sees it. Times are epoch "
        "seconds of the first and last packet matching each event's evidence_filter (a tshark display filter)."
    )
    labels_path.write_text(json.dumps(labels, indent=1) + "\n")
    (out / "MANIFEST.md").write_text(render_manifest(labels))


def _expect(capture: dict) -> str:
    if capture["kind"] == "benign":
        return "nothing"
    events = [e for e in capture["events"] if not e.get("secondary")]
    main = "; ".join(f"{e['rule']} from {e['attacker_ip'] or e.get('attacker_mac')}" for e in events)
    side = sorted({e["rule"] for e in capture["events"] if e.get("secondary")})
    return main + (f" (may also: {', '.join(side)})" if side else "")


def render_manifest(labels: dict) -> str:
    rows = []
    total = 0
    for capture in labels["captures"].values():
        total += capture["bytes"]
        size = f"{capture['bytes'] / 1e6:.1f} MB"
        snap = f"snaplen {capture['snaplen']}" if capture["snaplen"] else "8 KB cutoff per connection"
        rows.append(
            f"| {capture['file']} | {capture['packets']:,} | {size}, {snap} | {capture['what']} | {_expect(capture)} |"
        )
    versions = "\n".join(f"| {name} | {version} |" for name, version in labels["tool_versions"].items())
    lab = "\n".join(f"| {host} | {address} | {role} |" for host, address, role in LAB_TABLE)
    return MANIFEST_TEMPLATE.format(
        lab=lab, rows="\n".join(rows), total=total / 1e6, count=len(rows), versions=versions
    )


LAB_TABLE = [
    ("gw", "10.77.0.1 (52:54:00:77:00:01)", "router to the internet (no NAT; the internet routes 10.77.0.0/24 to it)"),
    ("dns", "10.77.0.2", "dnsmasq, the LAN resolver; forwards `t.cdnsync.example` to 203.0.113.53"),
    ("mon", "10.77.0.5", "monitoring: pings gw, dns, srv1, db1 and GETs http://10.77.0.10/health every 30 s"),
    (
        "srv1",
        "10.77.0.10",
        "OpenSSH on 22 and 2222, vsftpd on 21 and 2121, telnetd 23, nginx 80/443/8080 (Basic auth on /admin/), "
        "Samba 445",
    ),
    ("db1", "10.77.0.11", "MariaDB 3306 and 3307 (extra_port), PostgreSQL 5432, OpenSSH 22"),
    (
        "ws1-ws6",
        "10.77.0.21-26",
        "workstations: web browsing (ws1-ws4), update checks every 60 s +- 20 % (all), NTP (ws1-ws3), OpenSSH; "
        "ws5 runs a VNC server (Xvnc, 5900)",
    ),
    ("admin", "10.77.0.30", "the IT admin's workstation (SSH, scp, Ansible); also polls for updates"),
    ("attacker", "10.77.0.66 (00:0c:29:4b:66:66)", "the attacker"),
    (
        "internet",
        "198.51.100.10 updates, .20 backup provider, .123 NTP; 203.0.113.10/.11 web, 93.184.216.34 CDN, "
        "203.0.113.50 and .77 C2, 203.0.113.53 iodined, 185.53.178.10 attacker's file drop",
        "exist only in the lab's internet namespace",
    ),
]


MANIFEST_TEMPLATE = """# Lab captures: real tools, real servers, our own namespaces

Made by `tests/lab/make_captures.py` (needs root and apt; `--only NAME` re-runs one). A LAN of network
namespaces on a Linux bridge, captured on the bridge as a mirror port sees it, with a router to a fake
internet that exists only inside the lab. Every attack is a real Debian tool against real Debian servers,
with benign background traffic from the other hosts running at the same time. Benign-only captures measure
false positives: an alert on them is wrong unless labels.json says otherwise.

`labels.json` holds, per capture, each labelled event (rule as PRODUCT.md names it, attacker IP and MAC,
victims and ports, tool and its exact command line, first/last packet time and the tshark display filter
that selects its packets) and, for every capture, the hosts and what they do. Events marked `secondary` are
side effects of the tool that a detector may fairly raise too (an ARP sweep that ettercap does before it
poisons, the cleartext password inside an FTP brute force).

Not for tuning: this set is held out for evaluation. Packet counts are read with `capinfos`.

Size: every capture keeps the first 8 KB of TCP payload of each connection whole and cuts that connection's
later packets to 128 bytes, as Zeek's Time Machine and Arkime do (`tests/lab/cutoff.py`); the pcap records
keep the original packet lengths, so sizes, counts and times are true. ARP, DNS, ICMP, NTP and the DNS tunnel
are never cut. The two 100 MiB uploads were captured with a 128-byte snap length from the start.

## The lab
| host | address | role |
|---|---|---|
{lab}

## Captures ({count}, {total:.1f} MB)
| file | packets | size | what is in it | expect |
|---|---|---|---|---|
{rows}

## Versions
| software | version |
|---|---|
{versions}
"""
