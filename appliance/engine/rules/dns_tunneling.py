"""DNS_TUNNELING: data carried in DNS query names: many unique, long or random-looking subdomains under one
domain from one client, or a flood of TXT/NULL queries (the record types tunnels use for the downlink).

Per (client, registered domain) in a packet-time window, over queries only (responses repeat the name):
- unique_suspicious >= min_suspicious_subdomains, where a subdomain is suspicious when it is long
  (>= long_subdomain_chars) or random-looking (Shannon entropy >= high_entropy_bits over >= 12 chars);
- or TXT/NULL queries >= min_txt_null_queries over >= min_unique_subdomains unique subdomains.
Defaults follow the published iodine/dnscat2 detections (Suricata/ET "DNS query for long subdomain", SANS
"detecting DNS tunneling": labels > 52 chars or entropy > ~3.5-4 bits; RITA DNS: many unique subdomains).

Features: queries, unique_subdomains, suspicious_subdomains, mean_subdomain_len, max_name_len,
mean_entropy, txt_null_fraction, queries_per_min.
"""

from __future__ import annotations

import math
from collections import Counter

import msgspec

from appliance.engine.detection import Count, Detection, Positive, Seconds
from appliance.engine.network import normalise_domain
from appliance.engine.rules.bounded_state import BoundedMap, CappedSet, Window, window_for
from appliance.engine.rules.rule import Rule
from sensor.records import DnsEvent, Event

NAME = "DNS_TUNNELING"
DEFAULT_SEVERITY = "HIGH"
VERSION = "1.0.0"
SCENARIO = "dns-tunneling"  # the simulator scenario that exercises it
TXT, NULL = 16, 10
# Second-level labels under which registrations sit one level deeper (example.co.uk): a heuristic that
# covers the common country suffixes without shipping the public suffix list.
_SECOND_LEVEL = {"co", "com", "net", "org", "gov", "ac", "edu", "or", "ne", "go", "gob", "mil"}


class Thresholds(msgspec.Struct, frozen=True, kw_only=True):
    window_s: Seconds = 300.0
    min_suspicious_subdomains: Count = 20
    long_subdomain_chars: Count = 40
    high_entropy_bits: Positive = 3.8
    min_txt_null_queries: Count = 20
    min_unique_subdomains: Count = 10


DEFAULTS = Thresholds()
FEATURES = (
    "queries",
    "unique_subdomains",
    "suspicious_subdomains",
    "mean_subdomain_len",
    "max_name_len",
    "mean_entropy",
    "txt_null_fraction",
    "queries_per_min",
)
MORE_IS_WORSE = ("suspicious_subdomains", "unique_subdomains")


def registered_domain(name: str) -> tuple[str, str]:
    """(subdomain part, registered domain) of a query name."""
    labels = normalise_domain(name).split(".")
    keep = 3 if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in _SECOND_LEVEL else 2
    return ".".join(labels[:-keep]), ".".join(labels[-keep:])


def shannon_entropy(text: str) -> float:
    if not text:
        return 0.0
    counts = Counter(text)
    return -sum(n / len(text) * math.log2(n / len(text)) for n in counts.values())


class _Queries(Window):
    __slots__ = (
        "entropy_sum",
        "len_sum",
        "max_len",
        "queries",
        "samples",
        "subdomains",
        "suspicious",
        "txt_null",
    )

    def __init__(self, ts: float):
        super().__init__(ts)
        self.subdomains = CappedSet()
        self.queries = self.suspicious = self.txt_null = self.max_len = 0
        self.len_sum = self.entropy_sum = 0.0
        self.samples: list[str] = []


class _Tunnel:
    """One incident per tunnel domain: the client that crossed first is its source; a resolver forwarding
    the same queries upstream crosses too and only joins the clients."""

    __slots__ = ("clients", "first_client", "last", "queries")

    def __init__(self, first_client: str):
        self.first_client = first_client
        self.clients = CappedSet()
        self.queries = 0
        self.last = 0.0


class Detector(Rule):
    NAME, DEFAULT_SEVERITY, VERSION, FEATURES = NAME, DEFAULT_SEVERITY, VERSION, FEATURES

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._queries: BoundedMap[tuple, _Queries] = BoundedMap(self.site.max_tracked_keys)
        self._tunnels: BoundedMap[str, _Tunnel] = BoundedMap(self.site.max_tracked_keys)

    def on_event(self, event: Event) -> list[Detection]:
        if not isinstance(event, DnsEvent) or event.is_response or not event.query:
            return []
        sub, domain = registered_domain(event.query)
        key = (event.src_ip, domain)
        window = window_for(self._queries, key, event.ts, self.t.window_s, _Queries)
        window.note(event.ts, event.flow_uid)
        window.queries += 1
        window.txt_null += event.qtype in (TXT, NULL)
        window.max_len = max(window.max_len, len(event.query))
        if sub and window.subdomains.add(sub):
            self._count_subdomain(window, sub, event.query)
        if not (window.alerting or self._crossed(window)):
            return []
        window.alerting = True
        tunnel = self._tunnels.get_or_add(domain, lambda: _Tunnel(event.src_ip))
        tunnel.clients.add(event.src_ip)
        tunnel.queries += 1
        tunnel.last = max(tunnel.last, event.ts)
        return self.book.update(
            (domain,),
            tunnel.queries,
            event.ts,
            lambda incident: self._detection(incident, tunnel, domain, window),
        )

    def _count_subdomain(self, window: _Queries, sub: str, query: str) -> None:
        letters = sub.replace(".", "")
        entropy = shannon_entropy(letters)
        window.len_sum += len(letters)
        window.entropy_sum += entropy
        long = len(letters) >= self.t.long_subdomain_chars
        random_looking = len(letters) >= 12 and entropy >= self.t.high_entropy_bits
        window.suspicious += long or random_looking
        if len(window.samples) < 5:
            window.samples.append(query)

    def _crossed(self, window: _Queries) -> bool:
        if window.suspicious >= self.t.min_suspicious_subdomains:
            return True
        return (
            window.txt_null >= self.t.min_txt_null_queries
            and len(window.subdomains) >= self.t.min_unique_subdomains
        )

    def _detection(self, incident: str, tunnel: _Tunnel, domain: str, window: _Queries) -> Detection:
        unique = len(window.subdomains)
        return self.book.detection(
            incident,
            source_ip=tunnel.first_client,
            port=53,
            protocol="DNS",
            first_seen=window.start,
            last_seen=window.last,
            evidence={
                "domain": domain,
                "clients": tunnel.clients.sample(),
                "queries": window.queries,
                "unique_subdomains": unique,
                "txt_null_queries": window.txt_null,
                "query_samples": window.samples,
            },
            flow_uids=window.flow_uids,
            features={
                "queries": window.queries,
                "unique_subdomains": unique,
                "suspicious_subdomains": window.suspicious,
                "mean_subdomain_len": window.len_sum / unique if unique else 0.0,
                "max_name_len": window.max_len,
                "mean_entropy": window.entropy_sum / unique if unique else 0.0,
                "txt_null_fraction": window.txt_null / window.queries,
                "queries_per_min": window.queries * 60.0 / max(window.last - window.start, 60.0),
            },
        )

    def advance(self, now: float) -> list[Detection]:
        self._queries.drop_stale(lambda window: window.expired(now, self.t.window_s))
        self._tunnels.drop_stale(lambda tunnel: now - tunnel.last > self.t.window_s)
        return super().advance(now)
