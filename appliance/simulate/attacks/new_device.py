"""NEW_DEVICE: hardware that was never on the network before shows up after the baseline period."""

from __future__ import annotations

from appliance.simulate import conversations as talk
from appliance.simulate import frames
from appliance.simulate.attacks import attack_start, record
from appliance.simulate.capture import Host
from appliance.simulate.office import random_mac
from appliance.simulate.protocols import tls
from appliance.simulate.site import Site

RULE = "NEW_DEVICE"


def inject(site: Site) -> None:
    rng = site.rng("attack:newdevice")
    office, capture = site.office, site.capture

    # A personal laptop that gets a lease like any client, then browses.
    laptop = Host(
        "laptop", office.unused_address(rng), random_mac(rng, "lenovo"), ttl=128, os="windows", role="workstation"
    )
    start = attack_start(site, rng, 0.6, 0.75)
    ts = talk.dhcp_boot(site, rng, start, laptop)
    for name in ("connectivitycheck.gstatic.com", "www.google.com", "www.netflix.com"):
        ts = talk.https_visit(site, rng, ts, laptop, name, tls.CHROME, [(800, 40_000)]) + rng.uniform(1, 5)
    record(site, RULE, "dhcp-client", laptop, None, None, start, ts, source_mac=laptop.mac)

    # A device with a static address: it only probes for conflicts (RFC 5227), then talks.
    pi = Host("pi", office.unused_address(rng), random_mac(rng, "raspberry"), os="linux", role="workstation")
    start = ts = attack_start(site, rng, 0.6, 0.75)
    for probe in range(3):
        capture.arp(ts + probe, 1, frames.BROADCAST_MAC, pi.mac_bytes, bytes(4), frames.ZERO_MAC, pi.ip_bytes)
    capture.arp(ts + 3.2, 1, frames.BROADCAST_MAC, pi.mac_bytes, pi.ip_bytes, frames.ZERO_MAC, pi.ip_bytes)
    ts = talk.ntp_sync(site, rng, ts + 4, pi, office.internet.host("2.debian.pool.ntp.org"))
    ts = talk.https_visit(site, rng, ts + 1, pi, "deb.debian.org", tls.PYTHON_REQUESTS, [(400, 90_000)])
    record(site, RULE, "static-address", pi, None, None, start, ts, source_mac=pi.mac)
