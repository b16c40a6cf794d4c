"""DATA_EXFILTRATION: data leaves for an external peer far beyond what comes back.

Variants are named after the time of day too: the same upload outside business hours is worse."""

from __future__ import annotations

from appliance.simulate import conversations as talk
from appliance.simulate.attacks import attack_start, attacker_workstation, record
from appliance.simulate.benign import diurnal
from appliance.simulate.protocols import tls
from appliance.simulate.site import Site

RULE = "DATA_EXFILTRATION"


def _when(ts: float) -> str:
    return "business-hours" if diurnal(ts) >= 0.5 else "after-hours"


def inject(site: Site) -> None:
    _bulk_upload(site)
    _low_and_slow(site)


def _bulk_upload(site: Site) -> None:
    """One HTTPS session pushing tens of megabytes to a file-drop service."""
    rng = site.rng("attack:exfil:bulk")
    host = attacker_workstation(site, rng)
    name = "upload.filedrop-share.example"
    server = site.office.internet.at(name, "192.0.2.120")
    start = attack_start(site, rng, 0.3, 0.5)
    size = rng.randint(60, 110) * 1_000_000
    end = talk.https_visit(site, rng, start, host, name, tls.PYTHON_REQUESTS, [(size, 400)], server=server)
    record(site, RULE, f"bulk-upload-{size // 1_000_000}MB-{_when(start)}", host, server, 443, start, end)


def _low_and_slow(site: Site) -> None:
    """About a megabyte a minute, for as long as the capture lasts (hours, on a long one)."""
    rng = site.rng("attack:exfil:slow")
    host = attacker_workstation(site, rng)
    name = "sync.notes-backup.example"
    server = site.office.internet.at(name, "192.0.2.121")
    start = attack_start(site, rng, 0.05, 0.1)
    ts, end, total = start, start, 0
    while ts < site.end:
        chunk = rng.randint(500_000, 1_500_000)
        total += chunk
        end = talk.https_visit(site, rng, ts, host, name, tls.CHROME, [(chunk, rng.randint(300, 600))], server=server)
        ts += rng.uniform(45, 75)
    record(site, RULE, f"low-and-slow-{total / 1e6:.1f}MB-{_when(start)}", host, server, 443, start, end)
