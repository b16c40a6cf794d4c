"""Threat-intel files in the formats the box takes, as their producers write them: STIX 2.1 bundles made with the
`stix2` library, a MISP event export, an abuse.ch-style CSV and a one-per-line list."""

from __future__ import annotations

import json

import stix2

WHEN = "2026-01-10T00:00:00Z"


def stix_bundle(*indicators: stix2.Indicator, observables=()) -> bytes:
    return stix2.Bundle(objects=[*indicators, *observables], allow_custom=True).serialize(pretty=True).encode()


def stix_indicator(pattern: str, *, name: str = "", confidence: int | None = None, valid_from: str = WHEN,
                   valid_until: str | None = None) -> stix2.Indicator:
    optional = {"confidence": confidence} if confidence is not None else {}
    if valid_until:
        optional["valid_until"] = valid_until
    return stix2.Indicator(pattern=pattern, pattern_type="stix", valid_from=valid_from, name=name or pattern,
                           allow_custom=True, **optional)


def misp_event(attributes: list[dict], objects: list[list[dict]] = (), *, threat_level: str = "1",
               info: str = "Phishing campaign") -> bytes:
    """{"Event": {...}} as MISP's event export writes it: strings for numbers, attributes with to_ids."""
    def attribute(number: int, fields: dict) -> dict:
        return {"id": str(number), "uuid": f"5f1c{number:04d}-0000-4000-8000-000000000000",
                "category": "Network activity", "timestamp": "1767225600", "comment": "", "deleted": False,
                "disable_correlation": False,
                "object_id": "0", "sharing_group_id": "0", "distribution": "5", **fields}

    event = {
        "id": "1207", "orgc_id": "1", "org_id": "1", "date": "2026-01-01", "threat_level_id": threat_level,
        "info": info, "published": True, "uuid": "5f1c0000-aaaa-4000-8000-000000000000", "analysis": "2",
        "timestamp": "1767225600", "distribution": "1", "Orgc": {"id": "1", "name": "CIRCL"},
        "Attribute": [attribute(number, fields) for number, fields in enumerate(attributes, start=1)],
        "Object": [{"id": str(index), "name": "domain-ip", "meta-category": "network",
                    "Attribute": [attribute(100 * index + number, fields) for number, fields in enumerate(group)]}
                   for index, group in enumerate(objects, start=1)],
        "Tag": [{"name": "tlp:green"}],
    }
    return json.dumps({"Event": event}, indent=2).encode()


FEODO_CSV = b"""\
################################################################
# abuse.ch Feodo Tracker Botnet C2 IP Blocklist (CSV)          #
# Last updated: 2026-11-30 12:00:00 UTC                        #
################################################################
# first_seen_utc,dst_ip,dst_port,c2_status,last_online,malware
"2025-09-17 07:44:46","198.51.100.23","443","online","2026-11-30","QakBot"
"2025-10-02 11:05:12","203.0.113.80","8080","offline","2026-11-02","Emotet"
"2025-10-02 11:05:12","not-an-address","8080","offline","2026-11-02","Emotet"
# END 3 entries
"""

PLAIN_LIST = b"""\
# one per line: addresses, networks, domains, URLs, JA3
192.0.2.66
2001:db8::66
198.18.0.0/15
bad.example.
http://files.bad.example:8080/payload.bin?id=7
e7d705a3286e19ea42f587b344ee6865
this is not an indicator
"""
