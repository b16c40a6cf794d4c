"""The indicator set the THREAT_INTEL_MATCH rule asks on the hot path, compiled once from the store.

One dict per kind keyed by the value exactly as the sensor writes it (addresses as inet_ntop gives them, names
lower case), so a flow costs one dict probe per endpoint; networks are one dict per prefix length (a shift and
a probe each), memoised per address. Each value maps to its listings (feed, confidence, expiry, the domain the
feed gave): a tuple shared by every indicator with the same ones, so a million indicators from a few feeds
hold a million keys and a handful of tuples. Expiry is checked against the record's packet time, so a replay
or a retro-hunt decides as the live engine did; the overrules (overrules.py) are applied while compiling.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import NamedTuple

from appliance.engine.network import ThreatIntel, _ip_to_int, normalise_domain, parse_network
from appliance.intel.indicators import url_key
from appliance.intel.overrules import HELD_BACK_SHARED, Overrules

MEMO_LIMIT = 65_536
EXACT_KINDS = ("ip", "domain", "url", "ja3", "ja4", "cert_sha1")


class Listing(NamedTuple):
    source: str
    confidence: int
    expires_at: float | None
    domain: str | None  # the name the feed gave with an address


class Hit(NamedTuple):
    kind: str  # ip | cidr | domain | url | ja3 | ja4 | cert_sha1
    indicator: str  # as listed (the listed parent domain, the listed network)
    listing: Listing


def _valid(listings: tuple[Listing, ...], ts: float) -> Listing | None:
    """The most confident listing still valid at packet time `ts`."""
    valid = [listing for listing in listings if listing.expires_at is None or ts < listing.expires_at]
    return max(valid, key=lambda listing: listing.confidence) if valid else None


class IndicatorSet:
    def __init__(self, overrules: Overrules | None = None):
        self._overrules = overrules
        self._exact: dict[str, dict[str, tuple[Listing, ...]]] = {kind: {} for kind in EXACT_KINDS}
        self._networks: dict[tuple[int, int], dict[int, tuple[str, tuple[Listing, ...]]]] = {}
        self._network_memo: dict[str, tuple[str, tuple[Listing, ...]] | None] = {}
        self._interned: dict[tuple, tuple[Listing, ...]] = {}
        self.loaded: Counter[str] = Counter()
        self.held_back: Counter[str] = Counter()  # by reason (overrules.py)

    # --- compiling -----------------------------------------------------------------------------------------
    @classmethod
    def from_rows(cls, rows: Iterable[tuple], overrules: Overrules | None) -> IndicatorSet:
        """Rows of (kind, value, confidence, domain, expires_at, source, ...) as repository.matchable streams."""
        indicators = cls(overrules)
        for kind, value, confidence, domain, expires_at, source, *_ in rows:
            indicators.add(kind, value, Listing(source, confidence, expires_at, domain))
        return indicators

    @classmethod
    def from_site_list(cls, intel: ThreatIntel) -> IndicatorSet:
        """Only the list kept in the engine settings (SiteConfig.threat_intel), for a RuleSet built without a
        store (tests, the training corpus)."""
        indicators = cls()
        listing = Listing(intel.source, 50, None, None)
        for kind, value in cls.site_list_entries(intel):
            indicators.add(kind, value, listing)
        return indicators

    @staticmethod
    def site_list_entries(intel: ThreatIntel) -> list[tuple[str, str]]:
        entries = []
        for value in intel.ips:
            network = parse_network(value)
            exact = network.num_addresses == 1
            entries.append(("ip", str(network.network_address)) if exact else ("cidr", str(network)))
        entries += [("domain", normalise_domain(name)) for name in intel.domains]
        return entries + [("ja3", value.lower()) for value in intel.ja3]

    def add(self, kind: str, value: str, listing: Listing) -> None:
        if self._overrules is not None:
            verdict = self._overrules.verdict(kind, value, listing.domain)
            if not verdict.matches:
                self.held_back[verdict.reason] += 1
                name = normalise_domain(listing.domain) if listing.domain else None
                if name and verdict.reason == HELD_BACK_SHARED:
                    self.add("domain", name, listing._replace(domain=value))  # the name the feed gave matches instead
                return
        if kind == "cidr":
            self._add_network(value, listing)
        elif kind in self._exact:
            table = self._exact[kind]
            table[value] = self._intern((*table.get(value, ()), listing))
        else:
            self.held_back["not_seen_by_the_sensor"] += 1
            return
        self.loaded[kind] += 1

    def _add_network(self, value: str, listing: Listing) -> None:
        network = parse_network(value)
        bits = network.max_prefixlen - network.prefixlen
        table = self._networks.setdefault((network.version, bits), {})
        key = int(network.network_address) >> bits
        listed, listings = table.get(key, (str(network), ()))
        table[key] = (listed, self._intern((*listings, listing)))

    def _intern(self, listings: tuple[Listing, ...]) -> tuple[Listing, ...]:
        return self._interned.setdefault(listings, listings)

    # --- the hot path --------------------------------------------------------------------------------------
    def address(self, ip: str, ts: float) -> Hit | None:
        listings = self._exact["ip"].get(ip)
        if listings is not None and (listing := _valid(listings, ts)):
            return Hit("ip", ip, listing)
        if not self._networks:
            return None
        found = self._network_of(ip)
        if found is not None and (listing := _valid(found[1], ts)) and not self._allowed_address(ip):
            return Hit("cidr", found[0], listing)
        return None

    def _allowed_address(self, ip: str) -> bool:
        return self._overrules is not None and self._overrules.allows_address(ip)

    def _network_of(self, ip: str) -> tuple[str, tuple[Listing, ...]] | None:
        memo = self._network_memo
        if ip in memo:
            return memo[ip]
        if len(memo) >= MEMO_LIMIT:
            memo.clear()
        parsed = _ip_to_int(ip)
        found = None
        if parsed is not None:
            version, value = parsed
            found = next((table[value >> bits] for (net_version, bits), table in self._networks.items()
                          if net_version == version and value >> bits in table), None)
        memo[ip] = found
        return found

    def name(self, name: str, ts: float) -> Hit | None:
        """A DNS query, TLS SNI or HTTP Host: the name or the nearest listed parent domain."""
        domains = self._exact["domain"]
        if not domains or not name:
            return None
        labels = name.rstrip(".").lower().split(".")
        for start in range(len(labels) - 1):
            candidate = ".".join(labels[start:])
            listings = domains.get(candidate)
            if listings is not None and (listing := _valid(listings, ts)):
                allowed = start > 0 and self._overrules is not None and self._overrules.allows_name(".".join(labels))
                return None if allowed else Hit("domain", candidate, listing)
        return None

    def url(self, host: str, uri: str, ts: float) -> Hit | None:
        urls = self._exact["url"]
        if not urls or not host:
            return None
        key = url_key(host, uri)
        for candidate in (key, key.split("?", 1)[0]):
            listings = urls.get(candidate)
            if listings is not None and (listing := _valid(listings, ts)):
                return Hit("url", candidate, listing)
        return None

    def fingerprint(self, kind: str, value: str, ts: float) -> Hit | None:
        """A TLS fingerprint: kind "ja3" (md5 hex) or "ja4" of a ClientHello, "cert_sha1" of a server's certificate."""
        listings = self._exact[kind].get(value.lower()) if value else None
        if listings is not None and (listing := _valid(listings, ts)):
            return Hit(kind, value.lower(), listing)
        return None

    def listed(self, kind: str) -> list[str]:
        """The values of an exact kind the set holds, as the sensor writes them (a retro-hunt looks each up)."""
        return list(self._exact[kind])

    @property
    def has_networks(self) -> bool:
        return bool(self._networks)

    @property
    def has_addresses(self) -> bool:
        return bool(self._exact["ip"] or self._networks)

    def __bool__(self) -> bool:
        return any(self._exact.values()) or bool(self._networks)

    def __len__(self) -> int:
        return sum(self.loaded.values())
