"""Where a delivery may go, and the TLS it uses to get there.

The egress policy: `NETSENX_EGRESS_ONLY` (comma-separated networks, e.g. "127.0.0.0/8,::1/128") limits every
delivery to addresses inside those networks, and then host names are refused unresolved (a DNS query is
traffic too): a lab box or a test that must never reach anything else sets it. Unset, any destination the
admin configured is reached; the box image's firewall then opens exactly those (appliance.egress).
"""

from __future__ import annotations

import ipaddress
import os
import re
import socket
import ssl
from dataclasses import dataclass

from appliance.delivery.errors import DeliveryError

EGRESS_ONLY_ENV = "NETSENX_EGRESS_ONLY"
_LABEL = "[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
HOST_NAME = re.compile(rf"^(?=.{{1,253}}$){_LABEL}(\.{_LABEL})*\.?$")
HOST_PATTERN = r"^[A-Za-z0-9.:-]{1,253}$"  # what the OpenAPI says; `check_host` says the rest


def ip_literal(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def check_host(host: str) -> str:
    """A host name (RFC 1123) or an IPv4/IPv6 address, as given; ValueError names what is wrong."""
    if ip_literal(host) is None and not HOST_NAME.match(host):
        raise ValueError(f"{host!r} is not a host name or an IPv4/IPv6 address")
    return host


@dataclass(frozen=True)
class EgressPolicy:
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] | None  # None: anywhere

    @classmethod
    def from_environment(cls) -> EgressPolicy:
        text = os.environ.get(EGRESS_ONLY_ENV, "").strip()
        if not text:
            return cls(None)
        return cls(tuple(ipaddress.ip_network(part.strip(), strict=False) for part in text.split(",") if part.strip()))

    def check(self, host: str) -> None:
        if self.networks is None:
            return
        address = ipaddress.ip_address("127.0.0.1") if host == "localhost" else ip_literal(host)
        if address is None:
            raise DeliveryError(f"{host}: this box delivers only to addresses in {EGRESS_ONLY_ENV} and resolves "
                                "no host names then; give an address", permanent=True)
        if not any(address in network for network in self.networks):
            raise DeliveryError(f"{host} is outside the networks this box may deliver to ({EGRESS_ONLY_ENV})",
                                permanent=True)


def connect(host: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection, after the egress policy said yes."""
    EgressPolicy.from_environment().check(host)
    try:
        return socket.create_connection((host, port), timeout=timeout)
    except OSError as error:
        raise DeliveryError(f"cannot connect to {host}:{port}: {error.strerror or error}") from error


def udp_socket(host: str, port: int) -> tuple[socket.socket, tuple]:
    EgressPolicy.from_environment().check(host)
    try:
        family, kind, protocol, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_DGRAM)[0]
    except OSError as error:
        raise DeliveryError(f"cannot resolve {host}: {error.strerror or error}") from error
    return socket.socket(family, kind, protocol), address


def tls_context(ca_pem: str | None) -> ssl.SSLContext:
    """Certificates checked against the system's CAs, or only against `ca_pem` (a private CA) when given."""
    context = ssl.create_default_context(cadata=ca_pem) if ca_pem else ssl.create_default_context()
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    return context


def check_ca_pem(ca_pem: str) -> str:
    try:
        ssl.create_default_context(cadata=ca_pem)
    except (ssl.SSLError, ValueError) as error:
        raise ValueError(f"not one or more PEM certificates ({error})") from error
    return ca_pem


def resolve(host: str, port: int) -> list[str]:
    """Every address `host` stands for now (for the firewall); an address stands for itself."""
    if ip_literal(host) is not None:
        return [str(ip_literal(host))]
    if EgressPolicy.from_environment().networks is not None:
        return []  # names stay unresolved under the egress policy
    try:
        infos = socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)
    except OSError:
        return []
    return sorted({info[4][0] for info in infos})
