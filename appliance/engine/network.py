"""What the engine knows about the site it watches: internal networks, business hours, known servers, indicators.

`SiteConfig` is plain configuration (a msgspec Struct, so it round-trips through the store and the API); the
matchers it needs on the hot path (`is_internal`, indicator and domain look-ups) are compiled once, on first
use, and cached on the instance.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
import socket
import zoneinfo
from functools import cached_property
from importlib import resources
from pathlib import Path

import msgspec

DEFAULT_INTERNAL_NETWORKS = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7"]


def _ip_to_int(ip: str) -> tuple[int, int] | None:
    """(version, integer) of an address, or None when the text is not an address. inet_pton is ~10x faster
    than ipaddress.ip_address, and this runs for every flow."""
    try:
        return 4, int.from_bytes(socket.inet_pton(socket.AF_INET, ip), "big")
    except OSError:
        pass
    try:
        return 6, int.from_bytes(socket.inet_pton(socket.AF_INET6, ip.split("%", 1)[0]), "big")
    except OSError:
        return None


class NetworkSet:
    """Membership of addresses in a list of CIDRs: one set of network prefixes per prefix length, so a
    look-up costs one shift and one set probe per distinct prefix length."""

    def __init__(self, cidrs: list[str]):
        self._prefixes: dict[tuple[int, int], set[int]] = {}
        for cidr in cidrs:
            net = parse_network(cidr)
            bits = net.max_prefixlen - net.prefixlen
            self._prefixes.setdefault((net.version, bits), set()).add(int(net.network_address) >> bits)

    def __contains__(self, ip: str) -> bool:
        parsed = _ip_to_int(ip)
        if parsed is None:
            return False
        version, value = parsed
        return any(
            value >> bits in prefixes
            for (net_version, bits), prefixes in self._prefixes.items()
            if net_version == version
        )

    def __bool__(self) -> bool:
        return bool(self._prefixes)


def parse_network(text: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    try:
        return ipaddress.ip_network(text.strip(), strict=False)
    except ValueError:
        raise ValueError(f"not an IP address or CIDR: {text!r}") from None


def normalise_domain(name: str) -> str:
    return name.strip().rstrip(".").lower()


class DomainSet:
    """A set of domains that also matches every subdomain ("openai.com" matches "api.openai.com")."""

    def __init__(self, domains: list[str]):
        self._domains = {normalise_domain(d) for d in domains if normalise_domain(d)}

    def match(self, name: str) -> str | None:
        """The listed domain that `name` is, or is under; None when it is not listed."""
        labels = normalise_domain(name).split(".")
        for start in range(len(labels)):
            candidate = ".".join(labels[start:])
            if candidate in self._domains:
                return candidate
        return None

    def __bool__(self) -> bool:
        return bool(self._domains)


_JA3_HASH = re.compile(r"^[0-9a-f]{32}$")
_DOMAIN = re.compile(r"^(?:[a-z0-9_-]{1,63}\.)+[a-z0-9-]{1,63}$")


class ThreatIntel(msgspec.Struct, kw_only=True, dict=True):
    """Indicators imported offline. `source` names the feed so an alert can say where an indicator came from."""

    source: str = "local"
    ips: list[str] = []  # addresses or CIDRs
    domains: list[str] = []  # matched with all subdomains
    ja3: list[str] = []  # md5 hex of the JA3 string

    def __post_init__(self) -> None:
        for value in self.ja3:
            if not _JA3_HASH.match(value.lower()):
                raise ValueError(f"not a JA3 hash (32 hex digits): {value!r}")
        _ = self.ip_set  # parse now so a bad CIDR fails at load, not on the first flow

    @cached_property
    def ip_set(self) -> NetworkSet:
        return NetworkSet(self.ips)

    @cached_property
    def domain_set(self) -> DomainSet:
        return DomainSet(self.domains)

    @cached_property
    def ja3_set(self) -> frozenset[str]:
        return frozenset(value.lower() for value in self.ja3)

    def __bool__(self) -> bool:
        return bool(self.ips or self.domains or self.ja3)


def load_threat_intel(path: str | Path, source: str | None = None) -> ThreatIntel:
    """Read an indicator file: one indicator per line (IP, CIDR, domain or JA3 md5), '#' starts a comment.
    Each line's kind is recognised from its shape; a line that is none of them is a ValueError naming it."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValueError(f"cannot read indicator file {path}: {exc}") from None
    ips: list[str] = []
    domains: list[str] = []
    ja3: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        value = raw.split("#", 1)[0].strip().lower()
        if not value:
            continue
        if _JA3_HASH.match(value):
            ja3.append(value)
        elif _is_network(value):
            ips.append(value)
        elif _DOMAIN.match(value.rstrip(".")):
            domains.append(value.rstrip("."))
        else:
            raise ValueError(f"{path}:{number}: not an IP, CIDR, domain or JA3 hash: {raw.strip()!r}")
    return ThreatIntel(source=source or path.name, ips=ips, domains=domains, ja3=ja3)


def _is_network(value: str) -> bool:
    try:
        ipaddress.ip_network(value, strict=False)
    except ValueError:
        return False
    return True


def _shipped_domains(file_name: str) -> list[str]:
    data = resources.files("appliance.engine.rules").joinpath(file_name).read_text("utf-8")
    return list(json.loads(data)["domains"])


def default_ai_service_domains() -> list[str]:
    return _shipped_domains("ai_service_domains.json")


def default_known_software_domains() -> list[str]:
    return _shipped_domains("known_software_domains.json")


class BusinessHours(msgspec.Struct, kw_only=True, dict=True):
    start_hour: int = 8
    end_hour: int = 18  # exclusive
    weekdays: list[int] = msgspec.field(default_factory=lambda: [0, 1, 2, 3, 4])  # Monday = 0
    timezone: str = "UTC"  # IANA name; packet times are UTC epochs and are converted to site-local time

    def __post_init__(self) -> None:
        if not (0 <= self.start_hour <= 24 and 0 <= self.end_hour <= 24):
            raise ValueError(f"business hours must be within 0..24, got {self.start_hour}..{self.end_hour}")
        if any(day not in range(7) for day in self.weekdays):
            raise ValueError(f"weekdays are 0 (Monday) .. 6 (Sunday), got {self.weekdays}")
        _ = self.zone  # fail at load on an unknown time zone

    @cached_property
    def zone(self) -> zoneinfo.ZoneInfo:
        try:
            return zoneinfo.ZoneInfo(self.timezone)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone: {self.timezone!r}") from None

    def contains(self, ts: float) -> bool:
        local = dt.datetime.fromtimestamp(ts, self.zone)
        return local.weekday() in self.weekdays and self.start_hour <= local.hour < self.end_hour


class SiteConfig(msgspec.Struct, kw_only=True, dict=True):
    internal_networks: list[str] = msgspec.field(default_factory=lambda: list(DEFAULT_INTERNAL_NETWORKS))
    business_hours: BusinessHours = msgspec.field(default_factory=BusinessHours)
    known_dhcp_servers: list[str] = []  # addresses; empty = learn them during the baseline period
    # the site's own DNS resolvers: their queries are forwarded ones from the first packet on (the baseline
    # also learns resolvers, but only once clients have been seen asking them)
    dns_resolvers: list[str] = []
    allowed_ot_writers: list[str] = []  # addresses or CIDRs allowed to send Modbus/DNP3/BACnet writes
    gateway_ips: list[str] = []  # ARP_SPOOFING treats a claim on these as the worst case
    ai_service_domains: list[str] = msgspec.field(default_factory=default_ai_service_domains)
    # software that calls home on a schedule by design (updates, telemetry, OCSP, AV, push): never a beacon
    known_software_domains: list[str] = msgspec.field(default_factory=default_known_software_domains)
    threat_intel: ThreatIntel = msgspec.field(default_factory=ThreatIntel)
    learning_period_s: float = 24 * 3600.0  # packet time from the first record
    max_tracked_keys: int = 20_000  # per rule table (sources, pairs, ...): the memory bound on a busy network

    def __post_init__(self) -> None:
        if self.learning_period_s < 0:
            raise ValueError(f"learning_period_s must be >= 0, got {self.learning_period_s}")
        if self.max_tracked_keys < 1:
            raise ValueError(f"max_tracked_keys must be >= 1, got {self.max_tracked_keys}")
        for address in self.known_dhcp_servers + self.gateway_ips + self.dns_resolvers:
            if _ip_to_int(address) is None:
                raise ValueError(f"not an IP address: {address!r}")
        _ = self._internal, self.ot_writers  # parse now: a bad CIDR is a config error, not a runtime one

    @cached_property
    def _internal(self) -> NetworkSet:
        return NetworkSet(self.internal_networks)

    @cached_property
    def _internal_memo(self) -> dict[str, bool]:
        return {}

    @cached_property
    def ot_writers(self) -> NetworkSet:
        return NetworkSet(self.allowed_ot_writers)

    @cached_property
    def ai_domains(self) -> DomainSet:
        return DomainSet(self.ai_service_domains)

    @cached_property
    def software_domains(self) -> DomainSet:
        return DomainSet(self.known_software_domains)

    @cached_property
    def dhcp_servers(self) -> frozenset[str]:
        return frozenset(self.known_dhcp_servers)

    @cached_property
    def resolvers(self) -> frozenset[str]:
        return frozenset(self.dns_resolvers)

    @cached_property
    def gateways(self) -> frozenset[str]:
        return frozenset(self.gateway_ips)

    def is_internal(self, ip: str) -> bool:
        """Asked several times per flow about the same few thousand addresses: answers are memoised (the
        memo is emptied when it reaches max_tracked_keys entries, so it stays bounded)."""
        memo = self._internal_memo
        answer = memo.get(ip)
        if answer is None:
            if len(memo) >= self.max_tracked_keys:
                memo.clear()
            answer = memo[ip] = ip in self._internal
        return answer


def is_multicast_or_broadcast(ip: str) -> bool:
    """Destinations that many hosts talk to by design (mDNS, SSDP, DHCP, NetBIOS): never a sweep target."""
    if ip == "255.255.255.255" or ip.endswith(".255"):
        return True
    if ":" in ip:
        return ip.lower().startswith("ff")
    first = ip.split(".", 1)[0]
    return first.isdigit() and 224 <= int(first) <= 239
