"""The kinds of indicator the box takes, and how a value is recognised and written the one way it is matched.

| kind | value as stored | matched against |
|---|---|---|
| ip | an address, compressed (IPv6) | either end of a flow |
| cidr | a network, strict form | either end of a flow |
| domain | lower case, no trailing dot | DNS queries, TLS SNI, HTTP Host: the name and every subdomain |
| url | host[:port]/path?query, lower-case host, no scheme or fragment | HTTP requests in clear (Host + URI) |
| ja3 | 32 hex digits (md5 of the JA3 string) | TLS ClientHello |
| ja4 | the JA4 fingerprint (t13d1516h2_8daaf6152771_b186095e22b6) | TLS ClientHello |
| cert_sha1 | 40 hex digits | TLS server certificates, each of the chain (TLS 1.2 and older: 1.3 encrypts them) |
| file_md5 / file_sha1 / file_sha256 | hex digits | stored and searchable, never matched: the box hashes no files |
"""

from __future__ import annotations

import ipaddress
import re
import urllib.parse
from typing import Literal

import msgspec

Kind = Literal["ip", "cidr", "domain", "url", "ja3", "ja4", "cert_sha1", "file_md5", "file_sha1", "file_sha256"]
KINDS: tuple[str, ...] = Kind.__args__

# Stored and searchable, never matched: the sensor hashes no files (it reassembles no transfers; most are in TLS).
NEVER_MATCHED_KINDS = ("file_md5", "file_sha1", "file_sha256")
DEFAULT_CONFIDENCE = 50

_HEX32 = re.compile(r"^[0-9a-f]{32}$")
_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_JA4 = re.compile(r"^[tqd][0-9a-z]{2}[di][0-9]{2}[0-9]{2}[0-9a-z]{2}_[0-9a-f]{12}_[0-9a-f]{12}$")
_DOMAIN = re.compile(r"^(?=.{1,253}$)(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,62}$")


class Indicator(msgspec.Struct, kw_only=True, frozen=True):
    """One indicator as a source gave it. Times are epoch seconds; `domain` is a name the source gave with an
    address (the context that lets a CDN address match at all, see overrules.py)."""

    kind: Kind
    value: str
    confidence: int = DEFAULT_CONFIDENCE
    first_seen: float | None = None
    last_seen: float | None = None
    expires_at: float | None = None
    domain: str | None = None
    description: str = ""


class NotAnIndicator(ValueError):
    pass


def normalise_domain(text: str) -> str | None:
    name = text.strip().rstrip(".").lower()
    if name.startswith("*."):
        name = name[2:]
    try:
        name = name.encode("idna").decode("ascii") if not name.isascii() else name
    except UnicodeError:
        return None
    return name if _DOMAIN.match(name) else None


def normalise_url(text: str) -> str | None:
    """host[:port]/path?query: the scheme is dropped (the box sees a URL only in clear HTTP, where the same host
    and path over HTTPS would be invisible anyway), the fragment too (never sent)."""
    raw = text.strip()
    if "://" not in raw:
        return None
    parts = urllib.parse.urlsplit(raw)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return None
    host = parts.hostname.lower()
    default = 443 if parts.scheme.lower() == "https" else 80
    try:
        port = parts.port
    except ValueError:
        return None
    netloc = host if port in (None, default) else f"{host}:{port}"
    path = parts.path or "/"
    return f"{netloc}{path}" + (f"?{parts.query}" if parts.query else "")


def url_key(host: str, uri: str) -> str:
    """What an HTTP request is looked up as: the same shape as normalise_url's."""
    host = host.strip().lower()
    if host.endswith(":80"):
        host = host[:-3]
    return f"{host}{uri if uri.startswith('/') else '/' + uri}"


def classify(text: str, tls_hashes: bool = True) -> tuple[str, str]:
    """(kind, normalised value) of a value whose kind is not given: recognised from its shape. A bare hash is
    a TLS one (32 hex: JA3, 40 hex: certificate SHA-1, as abuse.ch SSLBL lists them) unless the source says
    its hashes are of files (`tls_hashes=False`). Raises NotAnIndicator."""
    value = text.strip().strip('"').strip()
    lowered = value.lower()
    if not value:
        raise NotAnIndicator("empty value")
    if _HEX32.match(lowered):
        return "ja3" if tls_hashes else "file_md5", lowered
    if _HEX40.match(lowered):
        return "cert_sha1" if tls_hashes else "file_sha1", lowered
    if _HEX64.match(lowered):
        return "file_sha256", lowered
    if _JA4.match(lowered):
        return "ja4", lowered
    network = address_or_network(value)
    if network is not None:
        return network
    url = normalise_url(value)
    if url is not None:
        return "url", url
    domain = normalise_domain(value)
    if domain is not None:
        return "domain", domain
    raise NotAnIndicator(f"not an IP, CIDR, domain, URL, JA3/JA4 or hash: {value[:120]!r}")


def address_or_network(value: str) -> tuple[str, str] | None:
    """("ip", address) or ("cidr", network) in their canonical text; a /32 or /128 is an address."""
    text = value.strip()
    try:
        if "/" not in text:  # most indicators: parsing an address costs half of parsing a network
            return "ip", str(ipaddress.ip_address(text))
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    if network.prefixlen == network.max_prefixlen:
        return "ip", str(network.network_address)
    return "cidr", str(network)


def typed(kind: str, text: str) -> tuple[str, str]:
    """(kind, normalised value) of a value whose kind the source states. Raises NotAnIndicator."""
    value = text.strip()
    if kind in ("ip", "cidr"):
        found = address_or_network(value)
    elif kind == "domain":
        found = ("domain", name) if (name := normalise_domain(value)) else None
    elif kind == "url":
        found = ("url", url) if (url := normalise_url(value)) else None
    elif kind == "ja3" or kind == "file_md5":
        found = (kind, value.lower()) if _HEX32.match(value.lower()) else None
    elif kind in ("cert_sha1", "file_sha1"):
        found = (kind, value.lower()) if _HEX40.match(value.lower()) else None
    elif kind == "file_sha256":
        found = (kind, value.lower()) if _HEX64.match(value.lower()) else None
    elif kind == "ja4":
        found = (kind, value.lower()) if _JA4.match(value.lower()) else None
    else:
        raise NotAnIndicator(f"unknown indicator kind {kind!r}; known: {', '.join(KINDS)}")
    if found is None:
        raise NotAnIndicator(f"not a {kind}: {value[:120]!r}")
    return found


def clamp_confidence(value) -> int:
    try:
        return max(0, min(100, int(value)))
    except (TypeError, ValueError):
        return DEFAULT_CONFIDENCE


MAX_PROBLEMS_KEPT = 20


class Parsed(msgspec.Struct, kw_only=True):
    """What a file or feed gave: its indicators, and how many entries were refused (the first few, in words)."""

    indicators: list[Indicator] = []
    refused: int = 0
    problems: list[str] = []

    def refuse(self, problem: str) -> None:
        self.refused += 1
        if len(self.problems) < MAX_PROBLEMS_KEPT:
            self.problems.append(problem)
