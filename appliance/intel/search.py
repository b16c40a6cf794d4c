"""Search an indicator: which sources list it (an address also in a listed network, a name also under a listed
domain) and whether it matches at all, or what overrules the feeds."""

from __future__ import annotations

import ipaddress

import msgspec

from appliance.intel import compiled, repository
from appliance.intel.indicators import NEVER_MATCHED_KINDS, NotAnIndicator, classify
from appliance.intel.repository import StoredIndicator
from appliance.store.database import Store


class SearchResult(msgspec.Struct, kw_only=True):
    query: str
    kind: str | None  # what the query was recognised as; None: not an indicator, searched as it was written
    value: str  # normalised
    found: list[StoredIndicator]
    matches: bool  # whether traffic touching it raises THREAT_INTEL_MATCH now (ignoring expiry, per indicator;
    # never for a file hash)
    overruled_by: str | None = None  # shared_infrastructure | top_site | allowlist
    overruled_detail: str = ""


def search(store: Store, query: str) -> SearchResult:
    try:
        kind, value = classify(query)
    except NotAnIndicator:
        kind, value = None, query.strip().lower()
    candidates = [value]
    if kind in ("domain", "url"):
        host = value.split("/", 1)[0].rsplit(":", 1)[0]
        labels = host.split(".")
        candidates += [".".join(labels[start:]) for start in range(len(labels) - 1)]
    found = repository.indicators_with_values(store, sorted(set(candidates)))
    if kind == "ip":
        address = ipaddress.ip_address(value)
        found += [row for row in repository.networks(store)
                  if ipaddress.ip_network(row.value).version == address.version
                  and address in ipaddress.ip_network(row.value)]
    enabled = {source.id for source in repository.list_sources(store) if source.enabled}
    verdict = compiled.overrules(store).verdict(kind, value, next((row.domain for row in found if row.domain), None)) \
        if kind else None
    return SearchResult(
        query=query, kind=kind, value=value, found=found,
        matches=any(row.source_id in enabled and row.kind not in NEVER_MATCHED_KINDS for row in found)
        and (verdict is None or verdict.matches),
        overruled_by=verdict.reason if verdict else None,
        overruled_detail=verdict.detail if verdict else "",
    )
