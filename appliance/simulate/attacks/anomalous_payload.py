"""ANOMALOUS_PAYLOAD: hosts suddenly far from how they behaved all along (ports, protocols, sizes)."""

from __future__ import annotations

import struct

from appliance.simulate.attacks import attack_start, attacker_workstation, record
from appliance.simulate.site import Site

RULE = "ANOMALOUS_PAYLOAD"


def inject(site: Site) -> None:
    rng = site.rng("attack:anomaly")
    office, capture = site.office, site.capture

    # A printer, which only ever received print jobs, opens a raw connection out to port 4444.
    printer = office.printers[-1]
    peer = office.internet.at("anomaly-tcp", "192.0.2.200")
    start = attack_start(site, rng)
    conv = site.tcp(rng, printer, peer, 4444, start).open()
    for _ in range(rng.randint(20, 40)):
        conv.client_sends(
            capture.filler(rng.randint(20_000, 90_000), rng.getrandbits(17)), think=rng.uniform(0.05, 0.5)
        )
        conv.server_sends(capture.filler(rng.randint(8, 40), rng.getrandbits(17)))
    conv.close()
    record(site, RULE, "printer-raw-tcp-4444", printer, peer, 4444, start, conv.ts)

    # A workstation pinging with full-size random payloads: an ICMP tunnel, not a ping.
    host = attacker_workstation(site, rng)
    peer = office.internet.at("anomaly-icmp", "192.0.2.210")
    start = ts = office.resolve(capture, attack_start(site, rng), host, peer)
    ident = rng.getrandbits(16)
    for sequence in range(rng.randint(200, 300)):
        rest = struct.pack("!HH", ident, sequence)
        capture.icmp(ts, host, peer, 8, 0, rest, capture.filler(1400, sequence * 1400))
        capture.icmp(
            ts + site.rtt(host, peer), peer, host, 0, 0, rest, capture.filler(rng.randint(200, 1400), sequence)
        )
        ts += rng.expovariate(20.0)
    record(site, RULE, "icmp-large-payloads", host, peer, None, start, ts)

    # The database server blasting UDP at a high port, something it has never done.
    server = office.database
    peer = office.internet.at("anomaly-udp", "192.0.2.211")
    start = ts = office.resolve(capture, attack_start(site, rng), server, peer)
    sport = server.ephemeral_port(rng)
    for index in range(rng.randint(1500, 2500)):  # a home-made framing: magic, sequence, then ciphertext
        payload = b"\x00\x00\xbe\xef" + index.to_bytes(4, "big") + capture.filler(rng.randint(1100, 1400), index)
        capture.udp(ts, server, peer, sport, 31337, payload)
        ts += rng.expovariate(150.0)
    record(site, RULE, "database-udp-31337-burst", server, peer, 31337, start, ts)
