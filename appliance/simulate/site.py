"""Everything a generator needs to put traffic on the wire: the capture, the office, per-purpose
random streams and the shared state of the LAN (ARP caches, the DNS server's cache)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from appliance.simulate.capture import Capture, Host
from appliance.simulate.internet import Internet
from appliance.simulate.office import DOMAIN, Office
from appliance.simulate.tcp import TcpConversation


@dataclass
class Site:
    capture: Capture
    office: Office
    seed: int | str  # the office's seed; an attack episode in the demo's stream adds its own tag
    dns_cache: dict[str, float] = field(default_factory=dict)  # name -> when the DC's cached answer expires

    def rng(self, purpose: str) -> random.Random:
        """An independent stream per purpose, so adding one attack does not reshuffle the background."""
        return random.Random(f"{self.seed}:{purpose}")

    @property
    def start(self) -> float:
        return self.capture.start

    @property
    def end(self) -> float:
        return self.capture.end

    def host_for(self, name: str) -> Host:
        """An office host by its DNS name, else the internet host of that name."""
        if name.endswith("." + DOMAIN):
            short = name.removesuffix("." + DOMAIN)
            for host in self.office.internal_hosts():
                if host.name == short:
                    return host
        return self.office.internet.host(name)

    def rtt(self, client: Host, server: Host) -> float:
        if server.role == "external":
            return Internet.rtt_to(server)
        if client.role == "external":
            return Internet.rtt_to(client)
        return 0.0004  # one switched LAN

    def tcp(self, rng: random.Random, client: Host, server: Host, port: int, ts: float, **options) -> TcpConversation:
        """A TCP conversation that starts once `client` has ARPed for its next hop."""
        ts = self.office.resolve(self.capture, ts, client, server)
        wan = server.role == "external" or client.role == "external"
        options.setdefault("bandwidth_bps", 80e6 if wan else 900e6)
        return TcpConversation(self.capture, rng, client, server, port, ts, rtt=self.rtt(client, server), **options)
