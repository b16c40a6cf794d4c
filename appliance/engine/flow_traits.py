"""What a flow looks like, in the terms several rules share (probe, failed attempt, service)."""

from __future__ import annotations

from sensor.records import Flow

# Remote administration and file-sharing services an attacker moves laterally with.
ADMIN_SERVICES: dict[int, str] = {
    22: "SSH",
    3389: "RDP",
    445: "SMB",
    139: "SMB",
    5985: "WinRM",
    5986: "WinRM",
    135: "RPC",
}

ICMP_ECHO_REQUEST = {"ICMP": 8, "ICMPv6": 128}


def duration(flow: Flow) -> float:
    return max(0.0, flow.ts_end - flow.ts_start)


def is_probe(flow: Flow) -> bool:
    """A TCP or UDP attempt that carried no data either way: what scanners leave (SYN, FIN, NULL, XMAS,
    connect-and-close, UDP without reply). Real conversations carry payload in at least one direction.
    UDP sent from a well-known port is a server answering (DHCP offers to leases nobody takes, DNS replies
    after the client gave up), not a probe: scanners send from ephemeral ports."""
    if flow.proto == "TCP":
        return flow.payload_orig == 0 and flow.payload_resp == 0
    if flow.proto == "UDP":
        return flow.pkts_resp == 0 and flow.src_port >= 1024
    return False


def is_echo_request(flow: Flow) -> bool:
    return ICMP_ECHO_REQUEST.get(flow.proto) == flow.src_port


def tcp_probe_kind(flow: Flow) -> str:
    """Nmap's names for the scan a probe belongs to, from the OR of the scanner's TCP flags."""
    flags = flow.tcp_flags_orig
    syn, fin, psh, urg = flags & 0x02, flags & 0x01, flags & 0x08, flags & 0x20
    if flow.proto == "UDP":
        return "UDP"
    if syn:
        return "CONNECT" if "A" in flow.history else "SYN"
    if fin and psh and urg:
        return "XMAS"
    if fin:
        return "FIN"
    if flags == 0:
        return "NULL"
    return "OTHER"
