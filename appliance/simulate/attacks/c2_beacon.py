"""C2_BEACON: an implant calls home on a timer with small, similar-sized check-ins."""

from __future__ import annotations

from appliance.simulate import conversations as talk
from appliance.simulate.attacks import attack_start, attacker_workstation, record
from appliance.simulate.protocols import tls
from appliance.simulate.site import Site

RULE = "C2_BEACON"
MIN_BEACONS = 12


def inject(site: Site) -> None:
    _https_beacon(site)
    _jittered_http_beacon(site)


def _period(site: Site, preferred: float, start: float) -> float:
    """The implant's sleep, shortened when the capture is too short to hold MIN_BEACONS of them."""
    return min(preferred, (site.end - start) * 0.9 / MIN_BEACONS)


def _https_beacon(site: Site) -> None:
    rng = site.rng("attack:c2:https")
    host = attacker_workstation(site, rng)
    name = "cdn-telemetry.cloudsync-api.example"
    server = site.office.internet.at(name, "192.0.2.45")
    start = attack_start(site, rng, 0.05, 0.15)
    period = _period(site, rng.choice((30.0, 60.0)), start)
    ts = talk.dns_lookup(site, rng, start, host, name, ttl=3600)
    end = ts
    while ts < site.end:
        # Check-ins differ by a handful of bytes; the answer is usually "no task" of near-constant size.
        end = talk.https_visit(
            site,
            rng,
            ts,
            host,
            name,
            tls.GO_CRYPTO_TLS,
            [(rng.randint(180, 196), rng.randint(90, 98))],
            lookup=False,
            server=server,
        )
        ts += period * (1 + rng.uniform(-0.01, 0.01))
    record(site, RULE, f"regular-https-{period:.0f}s", host, server, 443, start, end)


def _jittered_http_beacon(site: Site) -> None:
    rng = site.rng("attack:c2:http")
    host = attacker_workstation(site, rng)
    server = site.office.internet.at("c2-http", "192.0.2.77")
    start = attack_start(site, rng, 0.1, 0.2)
    period = _period(site, rng.choice((10.0, 20.0, 45.0)), start)
    agent = "Mozilla/5.0 (Windows NT 6.1; WOW64; Trident/7.0; rv:11.0) like Gecko"
    ts, end = start, start
    while ts < site.end:
        uri = f"/api/v2/status?sid={rng.getrandbits(32):08x}"
        end = talk.http_exchange(
            site,
            rng,
            ts,
            host,
            server,
            server.ip,
            [("POST", uri, rng.randint(40, 64))],
            agent,
            headers={"Cookie": f"session={rng.getrandbits(64):016x}"},
            content_type="application/octet-stream",
        )
        ts += period * (1 + rng.uniform(-0.3, 0.3))  # 30 % jitter, Cobalt Strike's favourite setting
    record(site, RULE, f"jittered-http-{period:.0f}s", host, server, 80, start, end)
