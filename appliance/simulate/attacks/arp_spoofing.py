"""ARP_SPOOFING: a workstation answers for the gateway (and the DC) so their traffic flows through it."""

from __future__ import annotations

from appliance.simulate.attacks import attack_start, attacker_workstation, record
from appliance.simulate.site import Site

RULE = "ARP_SPOOFING"


def inject(site: Site) -> None:
    rng = site.rng("attack:arpspoof")
    office = site.office
    spoofer = attacker_workstation(site, rng)
    victims = rng.sample([h for h in office.workstations if h is not spoofer], min(5, len(office.workstations) - 1))
    for variant, claimed, interval in (
        ("gateway-impersonation", office.gateway, 2.0),
        ("dc-impersonation", office.dc, 5.0),
    ):
        start = ts = attack_start(site, rng, 0.3, 0.5)
        end = min(site.end, start + 60.0)
        while ts < end:  # unsolicited is-at replies, repeated so the poisoned entries never expire
            for victim in victims:
                site.capture.arp(
                    ts, 2, victim.mac_bytes, spoofer.mac_bytes, claimed.ip_bytes, victim.mac_bytes, victim.ip_bytes
                )
            if variant == "gateway-impersonation":  # and the other direction: the gateway learns victims' IPs
                for victim in victims:
                    site.capture.arp(
                        ts + 0.001,
                        2,
                        office.gateway.mac_bytes,
                        spoofer.mac_bytes,
                        victim.ip_bytes,
                        office.gateway.mac_bytes,
                        office.gateway.ip_bytes,
                    )
            ts += interval
        record(site, RULE, variant, spoofer, claimed, None, start, ts, source_mac=spoofer.mac)
