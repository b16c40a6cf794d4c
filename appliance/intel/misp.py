"""MISP event JSON: one event ({"Event": {...}}), a list of them, or a search export ({"response": [...]}).

Taken: attributes (of the event and of its objects) whose `to_ids` flag is set (MISP's own mark of "use this
for detection"; the others are context) and whose type names a kind the box knows. A `domain|ip` attribute,
or a domain and an address in the same MISP object, gives the address its domain (overrules.py). Confidence
comes from the event's threat level (1 high .. 4 undefined); first/last seen from the attribute's
first_seen/last_seen, else its timestamp; MISP has no expiry (the source's default applies).
"""

from __future__ import annotations

import datetime as dt
import json

from appliance.intel.indicators import Indicator, NotAnIndicator, Parsed, typed

ATTRIBUTE_KINDS = {
    "ip-dst": "ip", "ip-src": "ip", "ip-dst|port": "ip", "ip-src|port": "ip",
    "domain": "domain", "hostname": "domain", "hostname|port": "domain",
    "url": "url",
    "md5": "file_md5", "sha1": "file_sha1", "sha256": "file_sha256",
    "filename|md5": "file_md5", "filename|sha1": "file_sha1", "filename|sha256": "file_sha256",
    "x509-fingerprint-sha1": "cert_sha1", "ja3-fingerprint-md5": "ja3", "ja4-fingerprint": "ja4",
}
THREAT_LEVEL_CONFIDENCE = {"1": 90, "2": 70, "3": 50, "4": 50}


def parse_events(data: bytes | str) -> Parsed:
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ValueError(f"not JSON: {error}") from None
    if isinstance(document, dict) and "response" in document:
        document = document["response"]
    events = document if isinstance(document, list) else [document]
    if not events or not all(isinstance(item, dict) and isinstance(item.get("Event"), dict) for item in events):
        raise ValueError('not a MISP event export: expected {"Event": {...}} (or a list of them)')
    parsed = Parsed()
    for item in events:
        _take_event(item["Event"], parsed)
    return parsed


def _take_event(event: dict, parsed: Parsed) -> None:
    confidence = THREAT_LEVEL_CONFIDENCE.get(str(event.get("threat_level_id", "4")), 50)
    info = str(event.get("info", ""))[:500]
    groups = [event.get("Attribute") or []] + [obj.get("Attribute") or [] for obj in event.get("Object") or []]
    for attributes in groups:
        wanted = [attribute for attribute in attributes if _for_detection(attribute)]
        names = [str(a.get("value", "")) for a in wanted if a.get("type") in ("domain", "hostname")]
        for attribute in wanted:
            _take_attribute(attribute, confidence, info, names[0] if names else None, parsed)


def _for_detection(attribute: dict) -> bool:
    return bool(attribute.get("to_ids")) and str(attribute.get("deleted", False)).lower() not in ("true", "1")


def _take_attribute(attribute: dict, confidence: int, info: str, group_domain: str | None, parsed: Parsed) -> None:
    kind_name, value = str(attribute.get("type", "")), str(attribute.get("value", ""))
    seen = _epoch(attribute.get("timestamp"))
    details = {"confidence": confidence, "description": str(attribute.get("comment") or info)[:500],
               "first_seen": _epoch(attribute.get("first_seen")) or seen,
               "last_seen": _epoch(attribute.get("last_seen")) or seen}
    if kind_name == "domain|ip":
        name, _, address = value.partition("|")
        pairs = [("domain", name, None), ("ip", address, name)]
    elif kind_name in ATTRIBUTE_KINDS:
        kind = ATTRIBUTE_KINDS[kind_name]
        if "|" in kind_name:  # filename|md5 -> the hash; ip-dst|port -> the address
            value = value.split("|")[-1] if kind_name.startswith("filename") else value.split("|")[0]
        pairs = [(kind, value, group_domain if kind == "ip" else None)]
    else:
        return  # a type the box cannot match (email addresses, registry keys, ...): context, not refused
    for stated_kind, text, domain in pairs:
        try:
            kind, normalised = typed(stated_kind, text)
        except NotAnIndicator as error:
            parsed.refuse(f"attribute {attribute.get('uuid', '?')}: {error}")
            continue
        parsed.indicators.append(Indicator(kind=kind, value=normalised, domain=domain, **details))


def _epoch(value) -> float | None:
    """MISP writes epoch seconds as strings (timestamp) or ISO 8601 (first_seen/last_seen, microseconds)."""
    if value in (None, ""):
        return None
    text = str(value)
    if text.isdigit():
        return float(text)
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()
