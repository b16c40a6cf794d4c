"""SYN_FLOOD: thousands of half-open connections against one service."""

from __future__ import annotations

import random
from collections.abc import Callable

from appliance.simulate.attacks import attack_start, attacker_workstation, record
from appliance.simulate.capture import Host
from appliance.simulate.site import Site
from appliance.simulate.tcp import TcpConversation

RULE = "SYN_FLOOD"
SPOOFED_NETWORK = "198.18."  # RFC 2544 benchmarking range: sources a flood tool makes up


def inject(site: Site) -> None:
    rng = site.rng("attack:synflood")
    office = site.office

    flooder = attacker_workstation(site, rng)
    start = site.office.resolve(site.capture, attack_start(site, rng), flooder, office.intranet)
    end = _flood(site, rng, start, lambda: flooder, office.intranet, 443, packets=3000, rate=800.0)
    record(site, RULE, "single-source", flooder, office.intranet, 443, start, end)

    start = attack_start(site, rng)

    def spoofed() -> Host:
        address = f"{SPOOFED_NETWORK}{rng.randint(0, 1)}.{rng.randint(1, 254)}"
        return office.internet.at(f"spoofed-{address}", address)

    end = _flood(site, rng, start, spoofed, office.mail, 25, packets=4000, rate=1200.0)
    record(site, RULE, "spoofed-sources", SPOOFED_NETWORK + "0.0/15", office.mail, 25, start, end)


def _flood(
    site: Site,
    rng: random.Random,
    ts: float,
    source: Callable[[], Host],
    target: Host,
    port: int,
    packets: int,
    rate: float,
) -> float:
    """SYNs with random source ports; the target answers each with SYN/ACK that nobody completes."""
    for _ in range(packets):
        conv = TcpConversation(
            site.capture, rng, source(), target, port, ts, sport=rng.randint(1024, 65535), rtt=0.0003
        )
        conv.half_open(answered=rng.random() < 0.9)  # the backlog overflows: some SYNs go unanswered
        ts += rng.expovariate(rate)
    return ts
