"""DNS_TUNNELING: data carried in query names and answers, as iodine and dnscat2 do."""

from __future__ import annotations

import base64
import random
from collections.abc import Callable

from appliance.simulate import conversations as talk
from appliance.simulate.attacks import attack_start, attacker_workstation, record
from appliance.simulate.capture import Host
from appliance.simulate.protocols import dns
from appliance.simulate.site import Site

RULE = "DNS_TUNNELING"
Query = tuple[str, int, list[bytes]]  # name, qtype, answer records


def _labels(encoded: str, size: int = 63) -> str:
    return ".".join(encoded[i : i + size] for i in range(0, len(encoded), size))


def inject(site: Site) -> None:
    office = site.office
    rng = site.rng("attack:dnstunnel")

    def iodine(index: int) -> tuple[str, int, list[bytes]]:
        chunk = base64.b32encode(site.capture.filler(rng.randint(100, 130), index * 131)).decode().rstrip("=").lower()
        return (
            f"{_labels(chunk)}.t.updates-cdn.example",
            dns.TYPE_NULL,
            [site.capture.filler(rng.randint(60, 200), index)],
        )

    def dnscat(index: int) -> tuple[str, int, list[bytes]]:
        chunk = site.capture.filler(rng.randint(20, 60), index * 77).hex()
        return (
            f"{_labels(chunk, 62)}.dnscat.cloud-metrics.example",
            dns.TYPE_TXT,
            [dns.txt_rdata(site.capture.filler(rng.randint(10, 60), index).hex().encode())],
        )

    def txt_flood(index: int) -> tuple[str, int, list[bytes]]:
        return (
            f"{rng.getrandbits(40):010x}.cfg.stat-counter.example",
            dns.TYPE_TXT,
            [dns.txt_rdata(base64.b64encode(site.capture.filler(rng.randint(150, 220), index)))],
        )

    # iodine goes through the DC (recursion reaches its authoritative server); dnscat2 talks to its
    # server directly, which is why it needs no recursion at all.
    attacker_server = office.internet.at("dnscat-server", "192.0.2.53")
    for variant, make, queries, rate, resolver in (
        ("iodine-base32-null", iodine, 300, 20.0, office.dc),
        ("dnscat-hex-txt", dnscat, 200, 10.0, attacker_server),
        ("txt-flood", txt_flood, 250, 15.0, office.dc),
    ):
        _tunnel(site, rng, variant, make, queries, rate, resolver)


def _tunnel(
    site: Site,
    rng: random.Random,
    variant: str,
    make: Callable[[int], Query],
    queries: int,
    rate: float,
    resolver: Host,
) -> None:
    host = attacker_workstation(site, rng)
    start = ts = attack_start(site, rng, 0.2, 0.4)
    for index in range(queries):
        name, qtype, rdatas = make(index)
        ts = talk.dns_lookup(site, rng, ts, host, name, qtype, rdatas=rdatas, resolver=resolver, ttl=0)
        ts += rng.expovariate(rate)
    record(site, RULE, variant, host, resolver, 53, start, ts)
