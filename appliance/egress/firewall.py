"""The box image's firewall opens exactly the destinations configured (images/firewall/netsenx.nft).

The notifier (unprivileged) resolves the enabled destinations' hosts and writes what it found to
`<runtime>/egress-firewall.json`; `netsenx-egress.path` notices the change and `netsenx-egress.service` (root,
CAP_NET_ADMIN only) runs `appliance firewall-egress --apply`, which reads that file strictly (addresses, tcp or
udp, ports: nothing else) and replaces the elements of the nft sets `egress_v4` / `egress_v6` (address .
protocol . port). The notifier never writes nft syntax, so a compromised notifier cannot add rules.

A host name is resolved again every REFRESH_SECONDS and at each configuration change; until then a destination
that moved to a new address is not reachable (the delivery is retried with back-off, nothing is lost).
"""

from __future__ import annotations

import ipaddress
import json
import logging
import time
from pathlib import Path
from typing import Literal

import msgspec

from appliance.delivery.destinations import resolve
from appliance.egress.destinations import egress
from appliance.store.data_dir import write_private_file
from appliance.store.database import Store

log = logging.getLogger("netsenx.egress")

FILE_NAME = "egress-firewall.json"
REFRESH_SECONDS = 300.0
TABLE = "inet netsenx"
SETS = {4: "egress_v4", 6: "egress_v6"}


class FirewallElement(msgspec.Struct, frozen=True, order=True, forbid_unknown_fields=True):
    address: str
    protocol: Literal["tcp", "udp"]
    port: int

    def __post_init__(self) -> None:
        ipaddress.ip_address(self.address)  # ValueError: not an address
        if not 0 < self.port < 65536:
            raise ValueError(f"port {self.port} is not a port")


class FirewallList(msgspec.Struct, forbid_unknown_fields=True):
    elements: list[FirewallElement]
    unresolved: list[str] = []  # host names that resolved to nothing: closed until they do


def wanted(store: Store, now: float) -> FirewallList:
    elements, unresolved = set(), set()
    for destination in egress(store, now).destinations:
        if not destination.enabled:
            continue
        for endpoint in destination.endpoints:
            addresses = resolve(endpoint.host, endpoint.port)
            if not addresses:
                unresolved.add(endpoint.host)
            elements.update(FirewallElement(address, endpoint.protocol, endpoint.port) for address in addresses)
    return FirewallList(sorted(elements), sorted(unresolved))


def read(path: Path) -> FirewallList:
    """The notifier's file, refused whole when anything in it is not an address, a protocol or a port."""
    try:
        return msgspec.json.decode(path.read_bytes(), type=FirewallList)
    except (msgspec.DecodeError, msgspec.ValidationError) as error:
        raise ValueError(f"{path}: {error}") from error


def nft_script(firewall: FirewallList) -> str:
    lines = [f"flush set {TABLE} {name}" for name in SETS.values()]
    for version, name in SETS.items():
        members = [f"{element.address} . {element.protocol} . {element.port}" for element in firewall.elements
                   if ipaddress.ip_address(element.address).version == version]
        if members:
            lines.append(f"add element {TABLE} {name} {{ {', '.join(members)} }}")
    return "\n".join(lines) + "\n"


class FirewallStep:
    """A notifier step: rewrite the file when the destinations (or their addresses) changed."""

    def __init__(self, store: Store, runtime: Path, clock=time.monotonic) -> None:
        self.store = store
        self.path = runtime / FILE_NAME
        self.clock = clock
        self._signature = None
        self._refreshed_at = -REFRESH_SECONDS

    def signature(self) -> tuple:
        return tuple(json.dumps(row, sort_keys=True) for row in (
            self.store.query_one("SELECT count(*) AS n, max(updated_at) AS at FROM notification_channels"),
            self.store.query_one("SELECT count(*) AS n, max(updated_at) AS at FROM export_destinations"),
            self.store.query_one("SELECT count(*) AS n, max(updated_at) AS at FROM intel_sources WHERE kind != 'file'"),
            self.store.get_setting("cloud_sync", {}),
        ))

    def __call__(self, now: float) -> int:
        signature = self.signature()
        if signature == self._signature and self.clock() - self._refreshed_at < REFRESH_SECONDS:
            return 0
        firewall = wanted(self.store, now)
        text = msgspec.json.encode(firewall)
        if not self.path.exists() or self.path.read_bytes() != text:
            write_private_file(self.path, text)
            log.info("egress firewall list: %d elements, unresolved: %s", len(firewall.elements), firewall.unresolved)
        self._signature, self._refreshed_at = signature, self.clock()
        return 0
