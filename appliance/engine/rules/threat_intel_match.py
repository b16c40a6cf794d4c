"""THREAT_INTEL_MATCH: traffic touching an indicator an admin imported or a feed delivered (appliance/intel).

Matches flow endpoints against indicator addresses and networks; DNS queries, TLS SNI and HTTP Host against
indicator domains (with subdomains); HTTP requests in clear against indicator URLs; TLS ClientHellos against
JA3 / JA4 fingerprints; the certificates a TLS server sends (in clear up to TLS 1.2) against certificate SHA-1s,
the client being the local host. A query an internal resolver forwards is the client's, already matched, and not the
resolver's. What overrules a feed (CDN and shared-hosting addresses without a domain, the shipped top sites,
the site's allowlist) never reaches this rule (intel/overrules.py); an indicator past its expiry, in packet
time, does not match. One incident per (local host, indicator) while contact continues; the evidence names
the feed, the indicator and how confident the feed is, so the admin can judge it.

Features: matches, ip_match, domain_match, ja3_match, host_is_internal, duration_s.
"""

from __future__ import annotations

import msgspec

from appliance.engine.detection import Count, Detection, Seconds
from appliance.engine.rules.bounded_state import BoundedMap, Window, window_for
from appliance.engine.rules.rule import Rule
from appliance.intel.matching import Hit, IndicatorSet
from sensor.records import DnsEvent, Event, Flow, HttpRequestEvent, TlsCertificateEvent, TlsClientHelloEvent

NAME = "THREAT_INTEL_MATCH"
DEFAULT_SEVERITY = "HIGH"
VERSION = "2.1.0"
SCENARIO = "threat-intel-match"  # the simulator scenario that exercises it
# url and ja4 hits count with the domain and JA3 ones: the model's features stay as it was trained on
FEATURE_OF_KIND = {"ip": "ip_match", "cidr": "ip_match", "domain": "domain_match", "url": "domain_match",
                   "ja3": "ja3_match", "ja4": "ja3_match", "cert_sha1": "ja3_match"}


class Thresholds(msgspec.Struct, frozen=True, kw_only=True):
    min_matches: Count = 1
    window_s: Seconds = 3600.0


DEFAULTS = Thresholds()
FEATURES = ("matches", "ip_match", "domain_match", "ja3_match", "host_is_internal", "duration_s")
MORE_IS_WORSE = ("matches",)


class _Contact(Window):
    __slots__ = ("hit", "matches", "peer", "port", "protocol", "seen_as")

    def __init__(self, ts: float):
        super().__init__(ts)
        self.matches = 0
        self.peer, self.port, self.protocol, self.seen_as = "", 0, "", ""
        self.hit: tuple = ()


class Detector(Rule):
    NAME, DEFAULT_SEVERITY, VERSION, FEATURES = NAME, DEFAULT_SEVERITY, VERSION, FEATURES
    CONFIGURATION = Rule.CONFIGURATION | {"intel"}
    USES_INTEL = True

    def __init__(self, *args, intel: IndicatorSet | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._contacts: BoundedMap[tuple, _Contact] = BoundedMap(self.site.max_tracked_keys)
        self.intel = intel if intel is not None else IndicatorSet.from_site_list(self.site.threat_intel)

    def on_flow(self, flow: Flow) -> list[Detection]:
        if not self.intel.has_addresses:
            return []
        out = []
        for host, peer in ((flow.src_ip, flow.dst_ip), (flow.dst_ip, flow.src_ip)):
            hit = self.intel.address(peer, flow.ts_end)
            if hit is not None:
                out += self._match(host, peer, hit, flow.dst_port, flow.proto, flow.ts_end, flow.uid, "flow")
        return out

    def on_event(self, event: Event) -> list[Detection]:
        if not self.intel:
            return []
        out = []
        for hit, seen_as in self._hits(event):
            if isinstance(event, TlsCertificateEvent):  # the server sent it: the local host is its client
                out += self._match(event.dst_ip, event.src_ip, hit, event.src_port, event.proto, event.ts,
                                   event.flow_uid, seen_as)
            else:
                out += self._match(event.src_ip, event.dst_ip, hit, event.dst_port, event.proto, event.ts,
                                   event.flow_uid, seen_as)
        return out

    def _hits(self, event: Event) -> list[tuple[Hit, str]]:
        """(hit, what was seen) for every indicator this event touches."""
        ts = event.ts
        found = []
        if isinstance(event, DnsEvent):
            if not event.is_response and not self.baseline.is_resolver(event.src_ip):
                found.append((self.intel.name(event.query, ts), "dns query"))
        elif isinstance(event, TlsClientHelloEvent):
            found += [(self.intel.name(event.sni, ts), "tls sni"),
                      (self.intel.fingerprint("ja3", event.ja3_hash, ts), "tls ja3"),
                      (self.intel.fingerprint("ja4", event.ja4, ts), "tls ja4")]
        elif isinstance(event, TlsCertificateEvent):
            found += [(self.intel.fingerprint("cert_sha1", sha1, ts), "tls certificate")
                      for sha1 in (event.cert_sha1, *event.chain_sha1)]
        elif isinstance(event, HttpRequestEvent):
            host = event.host.split(":", 1)[0]
            found += [(self.intel.url(event.host, event.uri, ts), "http url"), (self.intel.name(host, ts), "http host")]
        return [(hit, seen_as) for hit, seen_as in found if hit is not None]

    def _match(self, host: str, peer: str, hit: Hit, port: int, proto: str, ts: float, uid: str,
               seen_as: str) -> list[Detection]:
        key = (host, hit.indicator)
        contact = window_for(self._contacts, key, ts, self.t.window_s, _Contact)
        contact.note(ts, uid)
        contact.matches += 1
        contact.peer, contact.port, contact.protocol, contact.seen_as = peer, port, proto, seen_as
        contact.hit = (hit.kind, *hit.listing)  # plain data: the contact is checkpointed
        if contact.matches < self.t.min_matches:
            return []
        contact.alerting = True
        return self.book.update(key, contact.matches, ts, lambda incident: self._detection(incident, key, contact))

    def _detection(self, incident: str, key: tuple, contact: _Contact) -> Detection:
        host, indicator = key
        kind, feed, confidence, expires_at, domain = contact.hit
        evidence = {"indicator": indicator, "indicator_type": kind, "seen_as": contact.seen_as, "feed": feed,
                    "confidence": confidence, "expires_at": expires_at, "matches": contact.matches}
        if domain:
            evidence["listed_with"] = domain  # the address a listed domain came with, or the reverse
        return self.book.detection(
            incident,
            source_ip=host,
            dest_ip=contact.peer,
            port=contact.port,
            protocol=contact.protocol,
            first_seen=contact.start,
            last_seen=contact.last,
            evidence=evidence,
            flow_uids=contact.flow_uids,
            features={
                "matches": contact.matches,
                **{feature: float(FEATURE_OF_KIND[kind] == feature) for feature in FEATURES[1:4]},
                "host_is_internal": float(self.site.is_internal(host)),
                "duration_s": contact.last - contact.start,
            },
        )

    def advance(self, now: float) -> list[Detection]:
        self._contacts.drop_stale(lambda contact: contact.expired(now, self.t.window_s))
        return super().advance(now)
