"""STIX 2.1: bundles from a file, and the objects a TAXII 2.1 collection hands out.

Each object is parsed on its own with the `stix2` library (one malformed object is refused, not the bundle).
Taken: `indicator` objects with a STIX pattern (each comparison of the pattern whose object path names a kind
the box knows: ipv4/ipv6-addr, domain-name, url, file hashes, x509-certificate SHA-1, and JA3/JA4 in the
custom properties feeds use for them), and the cyber-observables themselves (ipv4-addr, ipv6-addr,
domain-name, url). An indicator's `confidence`, `valid_from`, `modified` and `valid_until` become the
indicator's confidence, first and last seen and expiry; a domain in the same pattern as an address is that
address's domain (overrules.py).
"""

from __future__ import annotations

import json

import stix2
import stix2.exceptions
from stix2patterns.pattern import ParseException, Pattern

from appliance.intel.indicators import DEFAULT_CONFIDENCE, Indicator, NotAnIndicator, Parsed, clamp_confidence, typed

OBSERVABLE_KINDS = {"ipv4-addr": "ip", "ipv6-addr": "ip", "domain-name": "domain", "url": "url"}
FILE_HASHES = {"md5": "file_md5", "sha-1": "file_sha1", "sha1": "file_sha1", "sha-256": "file_sha256",
               "sha256": "file_sha256"}


def parse_bundle(data: bytes | str) -> Parsed:
    """A STIX 2.1 bundle (JSON). A file that is not one is a ValueError."""
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"not JSON: {error}") from None
    if not isinstance(document, dict) or document.get("type") != "bundle":
        raise ValueError("not a STIX 2.1 bundle: the top level has no \"type\": \"bundle\"")
    return parse_objects(document.get("objects") or [])


def parse_objects(objects: list) -> Parsed:
    parsed = Parsed()
    for position, raw in enumerate(objects):
        try:
            thing = stix2.parse(raw, allow_custom=True, version="2.1")
        except (stix2.exceptions.STIXError, ValueError, TypeError, KeyError) as error:
            parsed.refuse(f"object {position}: {error}"[:300])
            continue
        kind = thing.get("type")
        if kind == "indicator":
            _take_indicator(thing, parsed)
        elif kind in OBSERVABLE_KINDS:
            _take(parsed, OBSERVABLE_KINDS[kind], str(thing.get("value", "")), {})
    return parsed


def _take_indicator(thing, parsed: Parsed) -> None:
    if thing.get("pattern_type") != "stix":
        parsed.refuse(f"{thing['id']}: pattern type {thing.get('pattern_type')!r} is not read (only 'stix')")
        return
    try:
        comparisons = Pattern(thing["pattern"]).inspect().comparisons
    except ParseException as error:
        parsed.refuse(f"{thing['id']}: {error}"[:300])
        return
    found = [(kind, value) for object_type, terms in comparisons.items()
             for path, operator, literal in terms if operator == "="
             for kind in [_kind_of(object_type, path)] if kind
             for value in [_unquote(literal)]]
    if not found:
        parsed.refuse(f"{thing['id']}: no comparison of a kind the box matches in {thing['pattern'][:200]!r}")
        return
    domains = [value for kind, value in found if kind == "domain"]
    details = {
        "confidence": clamp_confidence(thing.get("confidence", DEFAULT_CONFIDENCE)),
        "first_seen": _epoch(thing.get("valid_from") or thing.get("created")),
        "last_seen": _epoch(thing.get("modified") or thing.get("created")),
        "expires_at": _epoch(thing.get("valid_until")),
        "description": str(thing.get("name") or thing.get("description") or "")[:500],
        "domain": domains[0] if domains else None,
    }
    for kind, value in found:
        _take(parsed, kind, value, details)


def _take(parsed: Parsed, kind: str, value: str, details: dict) -> None:
    try:
        kind, value = typed(kind, value)
    except NotAnIndicator as error:
        parsed.refuse(str(error))
        return
    own = {**details, "domain": None} if kind == "domain" else details
    parsed.indicators.append(Indicator(kind=kind, value=value, **own))


def _kind_of(object_type: str, path: list) -> str | None:
    names = [str(step).lower() for step in path]
    if object_type in OBSERVABLE_KINDS and names == ["value"]:
        return "ip" if object_type.endswith("-addr") else OBSERVABLE_KINDS[object_type]
    if object_type == "file" and len(names) == 2 and names[0] == "hashes":
        return FILE_HASHES.get(names[1])
    if object_type == "x509-certificate" and names[:1] == ["hashes"] and names[-1] in ("sha-1", "sha1"):
        return "cert_sha1"
    # no standard object has them: feeds use custom ones (x-ja3:value, network-traffic:extensions.'x-ja3'.hash)
    for fingerprint in ("ja3", "ja4"):
        if fingerprint in object_type or any(fingerprint in name for name in names):
            return fingerprint
    return None


def _unquote(literal) -> str:
    text = str(literal)
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("\\'", "'").replace("\\\\", "\\")
    return text


def _epoch(moment) -> float | None:
    return moment.timestamp() if moment is not None else None
