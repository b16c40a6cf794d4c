"""ARP_SPOOFING as a mirror port really shows it: the forged replies may be the only ARP for the gateway in
the whole capture (the port was set up after every cache was warm), so what betrays the attack is the data
plane. The victims' frames for the internet switch, in the middle of their sessions, from the gateway's MAC
to the attacker's; the attacker's copies follow them to the real gateway (source: the attacker's MAC, one
hop less TTL); and one MAC answers for the gateway's address as well as its own.

What it reproduces:
- dsniff's `arpspoof -i eth0 -t VICTIM GATEWAY` with kernel forwarding on (arpspoof(8)): an unsolicited
  is-at to the victim every two seconds, victim -> gateway traffic only; Linux, forwarding a packet out of
  the interface it came in on, tells the victim so with ICMP redirects (rate-limited by the kernel).
- bettercap's arp.spoof with arp.spoof.fullduplex true (bettercap docs, modules/arp_spoof): the victims and
  the gateway are poisoned about each other every second, so both directions pass through the attacker.
"""

from __future__ import annotations

import random

from appliance.simulate import frames
from appliance.simulate.attacks import attack_start, attacker_workstation, record
from appliance.simulate.capture import HiddenArp, Host, Interception
from appliance.simulate.site import Site

RULE = "ARP_SPOOFING"
ICMP_REDIRECT, REDIRECT_HOST = 5, 1


def inject(site: Site) -> None:
    office = site.office
    rng = site.rng("attack:arp-poisoning")
    arpspoof_by = attacker_workstation(site, rng)
    bettercap_by = attacker_workstation(site, rng)
    capture = site.capture
    # The mirror port missed the gateway's own ARP: only the impostors' forged replies about it remain.
    capture.hide_arp(HiddenArp(office.gateway.ip_bytes, frozenset((arpspoof_by.mac_bytes, bettercap_by.mac_bytes)),
                               round(site.start * 1e6), round(site.end * 1e6)))
    others = [host for host in office.workstations if host not in (arpspoof_by, bettercap_by)]
    _arpspoof(site, rng, arpspoof_by, rng.choice(others))
    _bettercap(site, rng, bettercap_by, rng.sample(others, min(3, len(others))))


def _forge(site: Site, ts: float, impostor: Host, claimed: Host, told: Host) -> None:
    """An unsolicited is-at, unicast to `told`: `claimed`'s address is at the impostor's MAC."""
    site.capture.arp(ts, 2, told.mac_bytes, impostor.mac_bytes, claimed.ip_bytes, told.mac_bytes, told.ip_bytes)


def _arpspoof(site: Site, rng: random.Random, impostor: Host, victim: Host) -> None:
    office = site.office
    start = ts = attack_start(site, rng, 0.2, 0.35)
    end = min(site.end, start + rng.uniform(600, 1200))
    site.capture.intercept(Interception(victim.mac_bytes, office.gateway.mac_bytes, impostor.mac_bytes,
                                        round(start * 1e6) + 500, round(end * 1e6), both_ways=False))
    next_burst = start + 0.5
    while ts < end:
        _forge(site, ts, impostor, office.gateway, victim)
        if ts >= next_burst:
            # Linux's rate limit: redirect_number (9) redirects, 20 ms doubling between them, then silence.
            for number in range(9):
                _redirect(site, rng, ts + 0.3 + 0.02 * (2**number - 1), impostor, victim)
            next_burst = ts + 30.0
        ts += 2.0
    record(site, RULE, "arpspoof-gateway-data-plane", impostor, office.gateway, None, start, ts,
           source_mac=impostor.mac)


def _redirect(site: Site, rng: random.Random, ts: float, impostor: Host, victim: Host) -> None:
    """ICMP redirect (host): "for this destination, use the gateway directly", quoting the victim's packet."""
    office = site.office
    destination = office.internet.host(rng.choice(("www.google.com", "outlook.office365.com", "teams.microsoft.com")))
    quoted_tcp = frames.tcp(victim.ip_bytes, destination.ip_bytes, victim.ephemeral_port(rng), 443, rng.getrandbits(32),
                            rng.getrandbits(32), frames.ACK)
    quoted = frames.ipv4(victim.ip_bytes, destination.ip_bytes, frames.IPPROTO_TCP, quoted_tcp, rng.getrandbits(16),
                         victim.ttl - 1)
    site.capture.icmp(ts, impostor, victim, ICMP_REDIRECT, REDIRECT_HOST, office.gateway.ip_bytes, quoted[:28])


def _bettercap(site: Site, rng: random.Random, impostor: Host, victims: list[Host]) -> None:
    office = site.office
    start = ts = attack_start(site, rng, 0.4, 0.55)
    end = min(site.end, start + rng.uniform(600, 1200))
    for victim in victims:
        site.capture.intercept(Interception(victim.mac_bytes, office.gateway.mac_bytes, impostor.mac_bytes,
                                            round(start * 1e6) + 500, round(end * 1e6), both_ways=True))
    while ts < end:
        for victim in victims:
            _forge(site, ts, impostor, office.gateway, victim)
            _forge(site, ts + 0.0005, impostor, victim, office.gateway)
        ts += 1.0
    record(site, RULE, "bettercap-fullduplex-data-plane", impostor, office.gateway, None, start, ts,
           source_mac=impostor.mac)
