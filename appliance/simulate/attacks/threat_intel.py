"""THREAT_INTEL_MATCH: contact with an address or domain on the indicator list written beside the capture."""

from __future__ import annotations

from appliance.simulate import conversations as talk
from appliance.simulate.attacks import attack_start, attacker_workstation, record
from appliance.simulate.protocols import tls
from appliance.simulate.site import Site

RULE = "THREAT_INTEL_MATCH"
BAD_IP = "192.0.2.66"
BAD_DOMAIN = "invoice-portal-secure.example"
BAD_DOMAIN_IP = "192.0.2.67"
INDICATORS = (BAD_IP, BAD_DOMAIN)  # what the admin imports before the attack (the demo does so at start)


def inject(site: Site) -> None:
    site.capture.indicators.extend(INDICATORS)
    rng = site.rng("attack:intel")

    host = attacker_workstation(site, rng)
    server = site.office.internet.at("known-bad-ip", BAD_IP)
    start = attack_start(site, rng)
    conv = site.tcp(rng, host, server, 8443, start).open()
    # The implant dials the bare address, so its ClientHello has no SNI; only the IP can match.
    tls.handshake_and_exchange(conv, rng, "", tls.GO_CRYPTO_TLS, [(rng.randint(500, 2000), rng.randint(2000, 9000))])
    conv.close()
    record(site, RULE, "ip-match", host, server, 8443, start, conv.ts)

    host = attacker_workstation(site, rng)
    server = site.office.internet.at(BAD_DOMAIN, BAD_DOMAIN_IP)
    start = attack_start(site, rng)
    end = talk.https_visit(site, rng, start, host, BAD_DOMAIN, tls.CHROME, [(900, 48_000)], server=server)
    record(site, RULE, "domain-match", host, server, 443, start, end)
