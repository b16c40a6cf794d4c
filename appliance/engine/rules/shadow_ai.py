"""SHADOW_AI: a host using a public generative-AI service (DNS query, TLS SNI or HTTP Host under a domain of
SiteConfig.ai_service_domains, shipped as ai_service_domains.json and editable per site).

Queries an internal resolver forwards upstream are not attributed to the resolver (the baseline knows
which hosts other hosts send DNS queries to). One incident per (host, AI service) while use continues
(window_s idle closes it); lookups are the count.

Features: lookups, dns_lookups, tls_connections, http_requests, duration_s.
"""

from __future__ import annotations

import msgspec

from appliance.engine.detection import Count, Detection, Seconds
from appliance.engine.rules.bounded_state import BoundedMap, Window, window_for
from appliance.engine.rules.rule import Rule
from sensor.records import DnsEvent, Event, HttpRequestEvent, TlsClientHelloEvent

NAME = "SHADOW_AI"
DEFAULT_SEVERITY = "MEDIUM"
VERSION = "1.0.0"
SCENARIO = "shadow-ai"  # the simulator scenario that exercises it


class Thresholds(msgspec.Struct, frozen=True, kw_only=True):
    min_lookups: Count = 1
    window_s: Seconds = 3600.0


DEFAULTS = Thresholds()
FEATURES = ("lookups", "dns_lookups", "tls_connections", "http_requests", "duration_s")
MORE_IS_WORSE = ("lookups",)


class _Use(Window):
    __slots__ = ("by_kind", "names")

    def __init__(self, ts: float):
        super().__init__(ts)
        self.by_kind = {"dns": 0, "tls": 0, "http": 0}
        self.names: set[str] = set()


def service_name(event: Event) -> tuple[str, str] | None:
    """(how it was seen, the name) of a DNS query, TLS SNI or HTTP Host."""
    if isinstance(event, DnsEvent) and not event.is_response:
        return "dns", event.query
    if isinstance(event, TlsClientHelloEvent):
        return "tls", event.sni
    if isinstance(event, HttpRequestEvent):
        return "http", event.host.split(":", 1)[0]
    return None


class Detector(Rule):
    NAME, DEFAULT_SEVERITY, VERSION, FEATURES = NAME, DEFAULT_SEVERITY, VERSION, FEATURES

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._uses: BoundedMap[tuple, _Use] = BoundedMap(self.site.max_tracked_keys)

    def on_event(self, event: Event) -> list[Detection]:
        seen = service_name(event)
        if seen is None or not seen[1]:
            return []
        kind, name = seen
        if kind == "dns" and self.baseline.is_resolver(event.src_ip):
            return []  # the site's resolver forwarding a client's query: the client was already seen
        service = self.site.ai_domains.match(name)
        if service is None:
            return []
        key = (event.src_ip, service)
        use = window_for(self._uses, key, event.ts, self.t.window_s, _Use)
        use.note(event.ts, event.flow_uid)
        use.by_kind[kind] += 1
        if len(use.names) < 20:
            use.names.add(name.lower().rstrip("."))
        lookups = sum(use.by_kind.values())
        if lookups < self.t.min_lookups:
            return []
        use.alerting = True

        def build(incident: str) -> Detection:
            return self.book.detection(
                incident,
                source_ip=event.src_ip,
                dest_ip=event.dst_ip if kind != "dns" else "",
                port=event.dst_port,
                protocol=event.proto,
                first_seen=use.start,
                last_seen=use.last,
                evidence={"service": service, "names": sorted(use.names), "lookups": lookups},
                flow_uids=use.flow_uids,
                features={
                    "lookups": lookups,
                    "dns_lookups": use.by_kind["dns"],
                    "tls_connections": use.by_kind["tls"],
                    "http_requests": use.by_kind["http"],
                    "duration_s": use.last - use.start,
                },
            )

        return self.book.update(key, lookups, event.ts, build)

    def advance(self, now: float) -> list[Detection]:
        self._uses.drop_stale(lambda use: use.expired(now, self.t.window_s))
        return super().advance(now)
