"""THREAT_INTEL_MATCH: traffic touching an indicator from the offline-imported list (SiteConfig.threat_intel).

Matches flow endpoints against indicator IPs/CIDRs, DNS queries, TLS SNI and HTTP Host against
indicator domains (with subdomains), and TLS client JA3 hashes. A query an internal resolver forwards is
the client's, already matched, and not the resolver's. One incident per (local host, indicator)
while contact continues; the indicator and the feed it came from are the evidence.

Features: matches, ip_match, domain_match, ja3_match, host_is_internal, duration_s.
"""

from __future__ import annotations

import msgspec

from appliance.engine.detection import Count, Detection, Seconds
from appliance.engine.rules.bounded_state import BoundedMap, Window, window_for
from appliance.engine.rules.rule import Rule
from sensor.records import DnsEvent, Event, Flow, HttpRequestEvent, TlsClientHelloEvent

NAME = "THREAT_INTEL_MATCH"
DEFAULT_SEVERITY = "HIGH"
VERSION = "1.0.0"


class Thresholds(msgspec.Struct, frozen=True, kw_only=True):
    min_matches: Count = 1
    window_s: Seconds = 3600.0


DEFAULTS = Thresholds()
FEATURES = ("matches", "ip_match", "domain_match", "ja3_match", "host_is_internal", "duration_s")
MORE_IS_WORSE = ("matches",)


class _Contact(Window):
    __slots__ = ("matches", "peer", "port", "protocol", "seen_as")

    def __init__(self, ts: float):
        super().__init__(ts)
        self.matches = 0
        self.peer, self.port, self.protocol, self.seen_as = "", 0, "", ""


class Detector(Rule):
    NAME, DEFAULT_SEVERITY, VERSION, FEATURES = NAME, DEFAULT_SEVERITY, VERSION, FEATURES

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._contacts: BoundedMap[tuple, _Contact] = BoundedMap(self.site.max_tracked_keys)
        self._intel = self.site.threat_intel

    def on_flow(self, flow: Flow) -> list[Detection]:
        if not self._intel.ips:
            return []
        out = []
        for host, peer in ((flow.src_ip, flow.dst_ip), (flow.dst_ip, flow.src_ip)):
            if peer in self._intel.ip_set:
                out += self._match(host, peer, "ip", peer, flow.dst_port, flow.proto, flow.ts_end, flow.uid)
        return out

    def on_event(self, event: Event) -> list[Detection]:
        if not self._intel:
            return []
        out = []
        for kind, indicator, seen_as in self._indicators(event):
            out += self._match(
                event.src_ip,
                event.dst_ip,
                kind,
                indicator,
                event.dst_port,
                event.proto,
                event.ts,
                event.flow_uid,
                seen_as,
            )
        return out

    def _indicators(self, event: Event) -> list[tuple[str, str, str]]:
        """(kind, listed indicator, what was seen) for every indicator this event touches."""
        names: list[tuple[str, str]] = []
        found = []
        if (
            isinstance(event, DnsEvent)
            and not event.is_response
            and not self.baseline.is_resolver(event.src_ip)
        ):
            names.append(("dns query", event.query))
        elif isinstance(event, TlsClientHelloEvent):
            names.append(("tls sni", event.sni))
            if event.ja3_hash.lower() in self._intel.ja3_set:
                found.append(("ja3", event.ja3_hash.lower(), "tls ja3"))
        elif isinstance(event, HttpRequestEvent):
            names.append(("http host", event.host.split(":", 1)[0]))
        for seen_as, name in names:
            listed = self._intel.domain_set.match(name) if name else None
            if listed:
                found.append(("domain", listed, seen_as))
        return found

    def _match(
        self,
        host: str,
        peer: str,
        kind: str,
        indicator: str,
        port: int,
        proto: str,
        ts: float,
        uid: str,
        seen_as: str = "flow",
    ) -> list[Detection]:
        key = (host, indicator)
        contact = window_for(self._contacts, key, ts, self.t.window_s, _Contact)
        contact.note(ts, uid)
        contact.matches += 1
        contact.peer, contact.port, contact.protocol, contact.seen_as = peer, port, proto, seen_as
        if contact.matches < self.t.min_matches:
            return []
        contact.alerting = True
        return self.book.update(
            key, contact.matches, ts, lambda incident: self._detection(incident, key, kind, contact)
        )

    def _detection(self, incident: str, key: tuple, kind: str, contact: _Contact) -> Detection:
        host, indicator = key
        return self.book.detection(
            incident,
            source_ip=host,
            dest_ip=contact.peer,
            port=contact.port,
            protocol=contact.protocol,
            first_seen=contact.start,
            last_seen=contact.last,
            evidence={
                "indicator": indicator,
                "indicator_type": kind,
                "seen_as": contact.seen_as,
                "feed": self._intel.source,
                "matches": contact.matches,
            },
            flow_uids=contact.flow_uids,
            features={
                "matches": contact.matches,
                "ip_match": float(kind == "ip"),
                "domain_match": float(kind == "domain"),
                "ja3_match": float(kind == "ja3"),
                "host_is_internal": float(self.site.is_internal(host)),
                "duration_s": contact.last - contact.start,
            },
        )

    def advance(self, now: float) -> list[Detection]:
        self._contacts.drop_stale(lambda contact: contact.expired(now, self.t.window_s))
        return super().advance(now)
