"""Labelled attacks, one module per detection rule family. Each `inject(site)` adds its packets to the
capture and a Label per variant, so the scenario's ground truth says exactly what a detector should find."""

from __future__ import annotations

import random

from appliance.simulate.capture import Host
from appliance.simulate.labels import Label
from appliance.simulate.site import Site


def attacker_workstation(site: Site, rng: random.Random) -> Host:
    """A compromised ordinary workstation (never an admin's: their SSH is part of the baseline)."""
    return rng.choice([host for host in site.office.workstations if host not in site.office.admins])


def attack_start(site: Site, rng: random.Random, earliest: float = 0.25, latest: float = 0.5) -> float:
    """Attacks begin after a stretch of clean traffic, at a fraction of the capture's duration."""
    return site.start + site.capture.duration * rng.uniform(earliest, latest)


def record(
    site: Site,
    rule: str,
    variant: str,
    source: Host | str,
    dest: Host | None,
    port: int | None,
    start: float,
    end: float,
    source_mac: str | None = None,
) -> None:
    """Label an attack, clipped to the capture (packets outside it are not written); an attack that
    would only have begun after the capture ended gets no label."""
    if start >= site.end:
        return
    site.capture.label(
        Label(
            rule_name=rule,
            source_ip=source if isinstance(source, str) else source.ip,
            dest_ip=dest.ip if dest is not None else None,
            port=port,
            start_ts=round(max(start, site.start), 6),
            end_ts=round(min(end, site.end), 6),
            variant=variant,
            source_mac=source_mac,
        )
    )
