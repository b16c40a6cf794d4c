"""What overrules a feed, so intel does not flood the admin with false positives.

- Shared infrastructure (shared_infrastructure.json: large CDNs and shared hosting, as the providers publish
  their ranges): one address serves thousands of unrelated sites, so an address or network there never matches
  alone. When the feed gave a domain with it, that domain is matched instead (DNS, SNI, HTTP Host).
- The shipped top sites (top_sites.json) and the site's own allowlist (intel_allowlist: addresses, networks,
  domains) overrule every feed: an indicator that is, or is under, one of them never matches, and neither does
  an address or name they hold that a feed lists only through a wider network or a parent domain.
Expiry is not here: it is checked at match time, against the record's packet time (matching.py).
"""

from __future__ import annotations

import ipaddress
import json
from dataclasses import dataclass
from functools import cache
from importlib import resources

from appliance.engine.network import DomainSet, NetworkSet
from appliance.intel.indicators import NotAnIndicator, address_or_network, normalise_domain

HELD_BACK_SHARED = "shared_infrastructure"
OVERRULED_TOP_SITE = "top_site"
OVERRULED_ALLOWLIST = "allowlist"


def _shipped(file_name: str) -> dict:
    return json.loads(resources.files("appliance.intel").joinpath(file_name).read_text("utf-8"))


@cache
def shared_infrastructure() -> dict[str, list[str]]:
    return _shipped("shared_infrastructure.json")["providers"]


@cache
def top_sites() -> tuple[str, ...]:
    return tuple(_shipped("top_sites.json")["domains"])


@dataclass(frozen=True)
class Verdict:
    matches: bool
    reason: str | None = None  # why it does not match alone
    detail: str = ""  # the provider, top site or allowlist entry


class Overrules:
    def __init__(self, allowlist: list[str]):
        networks = [value for value in allowlist if address_or_network(value)]
        self._allowed_networks = NetworkSet(networks)
        self._allowed_domains = DomainSet([value for value in allowlist if value not in networks])
        self._top_sites = DomainSet(list(top_sites()))
        self._shared = {provider: NetworkSet(ranges) for provider, ranges in shared_infrastructure().items()}
        self._any_shared = NetworkSet([cidr for ranges in shared_infrastructure().values() for cidr in ranges])
        self._shared_networks = [(provider, ipaddress.ip_network(cidr))
                                 for provider, ranges in shared_infrastructure().items() for cidr in ranges]

    def allows_address(self, ip: str) -> bool:
        """An address the allowlist names or holds (a listed network's address may be allowed on its own)."""
        return ip in self._allowed_networks

    def allows_name(self, name: str) -> bool:
        """A name the allowlist or the top sites name or hold (a listed domain's subdomain may be allowed)."""
        return bool(self._allowed_domains.match(name) or self._top_sites.match(name))

    def verdict(self, kind: str, value: str, domain: str | None = None) -> Verdict:
        if kind in ("ip", "cidr"):
            return self._address_verdict(kind, value, domain)
        if kind in ("domain", "url"):
            host = value.split("/", 1)[0].rsplit(":", 1)[0] if kind == "url" else value
            return self._name_verdict(host)
        return Verdict(True)

    def _name_verdict(self, host: str) -> Verdict:
        name = normalise_domain(host) or host
        if listed := self._allowed_domains.match(name):
            return Verdict(False, OVERRULED_ALLOWLIST, listed)
        if listed := self._top_sites.match(name):
            return Verdict(False, OVERRULED_TOP_SITE, listed)
        return Verdict(True)

    def _address_verdict(self, kind: str, value: str, domain: str | None) -> Verdict:
        if kind == "ip" and value in self._allowed_networks:
            return Verdict(False, OVERRULED_ALLOWLIST, value)
        provider = self._shared_provider(kind, value)
        if provider:
            return Verdict(False, HELD_BACK_SHARED, provider + (f"; its domain {domain} matches" if domain else ""))
        return Verdict(True)

    def _shared_provider(self, kind: str, value: str) -> str | None:
        if kind == "ip":
            if value not in self._any_shared:
                return None
            return next((provider for provider, ranges in self._shared.items() if value in ranges), None)
        network = ipaddress.ip_network(value)
        start = str(network.network_address)
        if start in self._any_shared:  # the network starts inside a shared range (it is one of its parts)
            return self._shared_provider("ip", start)
        # else it overlaps one only by holding a whole, smaller shared range: rare, and only those are compared
        return next((provider for provider, shared in self._shared_networks
                     if shared.version == network.version and shared.prefixlen > network.prefixlen
                     and shared.subnet_of(network)), None)


def allowlist_value(value: str) -> str:
    """An allowlist entry as it is kept: a canonical address or network, or a normalised domain."""
    found = address_or_network(value)
    name = normalise_domain(value)
    if found is None and name is None:
        raise NotAnIndicator(f"value: {value!r} is not an address, a CIDR or a domain")
    return found[1] if found else name
