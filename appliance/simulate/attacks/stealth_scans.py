"""PORT_SCAN that takes its time or completes its handshakes: a SYN scan with ten seconds between probes,
another at nmap's "sneaky" pace, and a TCP connect scan from an unprivileged process, whose open ports show
full handshakes like any real connection.

What it reproduces: nmap's timing controls (`--scan-delay 10s`, and `-T1` "sneaky": 15 s between probes,
one at a time; nmap reference guide, "Timing and Performance") and its connect scan (`-sT`, used when raw
sockets are not available): the OS completes the handshake on open ports and nmap drops the connection at
once (an RST after the ACK), closed ports answer RST, ports behind Windows' firewall stay silent and are
retried once.
"""

from __future__ import annotations

import random
import struct

from appliance.simulate import frames
from appliance.simulate.attacks import attack_start, attacker_workstation, record
from appliance.simulate.attacks.reconnaissance import COMMON_PORTS
from appliance.simulate.capture import Host
from appliance.simulate.frames import ACK, RST, SYN
from appliance.simulate.site import Site
from appliance.simulate.tcp import TcpConversation

RULE = "PORT_SCAN"


def inject(site: Site) -> None:
    office = site.office
    rng = site.rng("attack:stealth-scan")
    _paced_syn_scan(site, rng, office.intranet, "scan-delay-10s", 10.0)
    _paced_syn_scan(site, rng, office.mail, "nmap-T1-sneaky-15s", 15.0)
    _connect_scan(site, rng, office.fileserver)
    _connect_scan(site, rng, office.linux_fleet[0])


def _paced_syn_scan(site: Site, rng: random.Random, target: Host, variant: str, delay: float) -> None:
    scanner = attacker_workstation(site, rng)
    listening = site.office.listening_ports(target)
    start = ts = attack_start(site, rng, 0.02, 0.1)
    sport = rng.randint(40000, 65000)
    end = start
    for port in rng.sample(COMMON_PORTS, len(COMMON_PORTS)):
        if ts >= site.end:
            break
        ts = site.office.resolve(site.capture, ts, scanner, target)
        conv = TcpConversation(site.capture, rng, scanner, target, port, ts, sport=sport, rtt=0.0004)
        conv.client_window = 1024
        conv.segment(ts, True, SYN, options=struct.pack("!BBH", 2, 4, 1460))
        if port in listening:
            conv.segment(ts + 0.0004, False, SYN | ACK, options=frames.tcp_syn_options(wscale=7))
            conv.segment(ts + 0.0005, True, RST)
        else:
            conv.server_seq = 0
            conv.segment(ts + 0.0004, False, RST | ACK)
        end = ts
        ts += delay * rng.uniform(0.98, 1.02)
    record(site, RULE, variant, scanner, target, None, start, end)


def _connect_scan(site: Site, rng: random.Random, target: Host) -> None:
    scanner = attacker_workstation(site, rng)
    listening = site.office.listening_ports(target)
    filtered = target.os == "windows"
    start = ts = site.office.resolve(site.capture, attack_start(site, rng, 0.2, 0.5), scanner, target)
    for port in rng.sample(COMMON_PORTS, len(COMMON_PORTS)):
        conv = TcpConversation(site.capture, rng, scanner, target, port, ts, sport=scanner.ephemeral_port(rng),
                               rtt=0.0004)
        if port in listening:
            conv.open()
            conv.reset(by_client=True)
        elif filtered:
            conv.half_open(answered=False)
            conv.segment(ts + 1.0, True, SYN, options=frames.tcp_syn_options())  # nmap's one retry
        else:
            conv.refused()
        ts += rng.expovariate(40.0)
    record(site, RULE, f"connect-scan-{target.name}", scanner, target, None, start, ts)
