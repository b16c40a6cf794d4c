"""PORT_SCAN and NETWORK_SWEEP: mapping what listens where, as nmap does it."""

from __future__ import annotations

import random
import struct

from appliance.simulate import frames
from appliance.simulate.attacks import attack_start, attacker_workstation, record
from appliance.simulate.capture import Host
from appliance.simulate.frames import ACK, FIN, PSH, RST, SYN, URG
from appliance.simulate.site import Site
from appliance.simulate.tcp import TcpConversation

PORT_SCAN = "PORT_SCAN"
NETWORK_SWEEP = "NETWORK_SWEEP"
# nmap's most common TCP ports, the head of its top-1000 list.
COMMON_PORTS = (
    80,
    23,
    443,
    21,
    22,
    25,
    3389,
    110,
    445,
    139,
    143,
    53,
    135,
    3306,
    8080,
    1723,
    111,
    995,
    993,
    5900,
    1025,
    587,
    8888,
    199,
    1720,
    465,
    548,
    113,
    81,
    6001,
    10000,
    514,
    5060,
    179,
    1026,
    2000,
    8443,
    8000,
    32768,
    554,
    26,
    1433,
    49152,
    2001,
    515,
    8008,
    49154,
    1027,
    5666,
    646,
    5000,
    5631,
    631,
    49153,
    8081,
    2049,
    88,
    79,
    5800,
    106,
    2121,
    1110,
    49155,
    6000,
    513,
    990,
    5357,
    427,
    49156,
    543,
    544,
    5101,
    144,
    7,
    389,
    8009,
    3128,
    444,
    9999,
    5009,
    7070,
    5190,
    3000,
    5432,
    1900,
    3986,
)
UDP_PORTS = (
    53,
    67,
    69,
    123,
    135,
    137,
    138,
    161,
    162,
    445,
    500,
    514,
    520,
    631,
    1434,
    1900,
    4500,
    49152,
    5353,
    111,
    1701,
    3283,
    5060,
    9200,
    10000,
    17185,
    20031,
    33281,
    1812,
    1813,
)
BRANCH_NETWORK = "10.21.0."  # a branch office behind the gateway (site-to-site VPN)


def inject_port_scans(site: Site) -> None:
    office = site.office
    rng = site.rng("attack:portscan")
    _tcp_scan(
        site, rng, office.fileserver, SYN, "fast-syn", rng.sample(COMMON_PORTS, 80) + list(range(1, 200)), rate=800.0
    )
    _tcp_scan(site, rng, office.intranet, FIN, "fin", rng.sample(COMMON_PORTS, 60), rate=300.0)
    _tcp_scan(site, rng, office.intranet, 0, "null", rng.sample(COMMON_PORTS, 60), rate=300.0)
    _tcp_scan(site, rng, office.database, FIN | PSH | URG, "xmas", rng.sample(COMMON_PORTS, 60), rate=300.0)
    slow_ports = rng.sample(COMMON_PORTS, 25)
    span = site.capture.duration * 0.4
    _tcp_scan(site, rng, office.mail, SYN, "slow-syn", slow_ports, rate=len(slow_ports) / span)
    _udp_scan(site, rng, office.dc)


def _tcp_scan(
    site: Site, rng: random.Random, target: Host, flags: int, variant: str, ports: list[int], rate: float
) -> None:
    """One probe per port. SYN scans: open -> SYN/ACK (nmap answers RST), closed -> RST/ACK.
    FIN/NULL/XMAS (RFC 793 trick): closed -> RST/ACK, open -> silence."""
    scanner = attacker_workstation(site, rng)
    open_ports = site.office.listening_ports(target)
    start = ts = site.office.resolve(site.capture, attack_start(site, rng, 0.2, 0.5), scanner, target)
    sport = rng.randint(40000, 65000)
    for port in ports:
        conv = TcpConversation(site.capture, rng, scanner, target, port, ts, sport=sport, rtt=0.0004)
        conv.client_window = 1024
        options = struct.pack("!BBH", 2, 4, 1460) if flags == SYN else b""
        conv.segment(ts, True, flags, options=options)
        if port in open_ports and flags == SYN:
            conv.segment(ts + 0.0004, False, SYN | ACK, options=frames.tcp_syn_options(wscale=7))
            conv.segment(ts + 0.0005, True, RST)
        elif port not in open_ports:
            conv.server_seq = 0
            conv.segment(ts + 0.0004, False, RST | ACK)
        ts += rng.expovariate(rate)
    record(site, PORT_SCAN, variant, scanner, target, None, start, ts)


def _udp_scan(site: Site, rng: random.Random, target: Host) -> None:
    """Closed UDP ports answer ICMP port unreachable quoting the probe's IP header and 8 bytes."""
    scanner = attacker_workstation(site, rng)
    start = ts = site.office.resolve(site.capture, attack_start(site, rng, 0.2, 0.5), scanner, target)
    sport = rng.randint(40000, 65000)
    for port in rng.sample(UDP_PORTS, len(UDP_PORTS)):
        probe = frames.udp(scanner.ip_bytes, target.ip_bytes, sport, port, b"")
        site.capture.ip_packet(ts, scanner, target, frames.IPPROTO_UDP, probe)
        if port not in (53, 88, 123, 137, 138, 389, 464):
            quoted = frames.ipv4(scanner.ip_bytes, target.ip_bytes, frames.IPPROTO_UDP, probe, 0, scanner.ttl)
            site.capture.icmp(ts + 0.0004, target, scanner, 3, 3, bytes(4), quoted[:28])
        ts += rng.expovariate(50.0)
    record(site, PORT_SCAN, "udp", scanner, target, None, start, ts)


def inject_sweeps(site: Site) -> None:
    rng = site.rng("attack:sweep")
    _arp_sweep(site, rng)
    _icmp_sweep(site, rng)
    _tcp_sweep(site, rng, 445)


def _branch_host(site: Site, last_octet: int, subnet: int = 0) -> Host:
    address = f"10.21.{subnet}.{last_octet}"
    return site.office.internet.at(f"branch-{address}", address)


def _arp_sweep(site: Site, rng: random.Random) -> None:
    """who-has for every address of the workstation /24; the live ones answer."""
    scanner = attacker_workstation(site, rng)
    live = {host.ip: host for host in site.office.internal_hosts()}
    start = ts = attack_start(site, rng, 0.2, 0.5)
    for last in range(1, 255):
        address = f"10.20.10.{last}"
        site.capture.arp(
            ts,
            1,
            frames.BROADCAST_MAC,
            scanner.mac_bytes,
            scanner.ip_bytes,
            frames.ZERO_MAC,
            frames.ip_to_bytes(address),
        )
        if address in live and address != scanner.ip:
            owner = live[address]
            site.capture.arp(
                ts + 0.0003, 2, scanner.mac_bytes, owner.mac_bytes, owner.ip_bytes, scanner.mac_bytes, scanner.ip_bytes
            )
        ts += rng.expovariate(60.0)
    record(site, NETWORK_SWEEP, "arp", scanner, None, None, start, ts, source_mac=scanner.mac)


def _icmp_sweep(site: Site, rng: random.Random) -> None:
    """Echo requests across the branch /24 (routed via the gateway, so no ARP); a third answer."""
    scanner = attacker_workstation(site, rng)
    start = ts = site.office.resolve(site.capture, attack_start(site, rng, 0.2, 0.5), scanner, site.office.gateway)
    ident = rng.getrandbits(16)
    for last in range(1, 255):
        target = _branch_host(site, last)
        rest = struct.pack("!HH", ident, last)
        site.capture.icmp(ts, scanner, target, 8, 0, rest, b"")
        if rng.random() < 0.35:
            site.capture.icmp(ts + 0.012, target, scanner, 0, 0, rest, b"")
        ts += rng.expovariate(100.0)
    record(site, NETWORK_SWEEP, "icmp", scanner, None, None, start, ts)


def _tcp_sweep(site: Site, rng: random.Random, port: int) -> None:
    """One port across many hosts: live hosts answer SYN/ACK or RST, absent ones stay silent."""
    scanner = attacker_workstation(site, rng)
    start = ts = site.office.resolve(site.capture, attack_start(site, rng, 0.2, 0.5), scanner, site.office.gateway)
    sport = rng.randint(40000, 65000)
    for last in range(1, 255):
        target = _branch_host(site, last, subnet=1)
        conv = TcpConversation(site.capture, rng, scanner, target, port, ts, sport=sport, rtt=0.012)
        draw = rng.random()
        if draw < 0.25:
            conv.half_open(answered=True)
            conv.segment(conv.ts + 0.0001, True, RST)
        elif draw < 0.35:
            conv.refused()
        else:
            conv.half_open(answered=False)
        ts += rng.expovariate(150.0)
    record(site, NETWORK_SWEEP, f"tcp-{port}", scanner, None, port, start, ts)
