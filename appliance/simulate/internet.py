"""The world beyond the gateway: public services the office uses, and their addresses.

Addresses come from the documentation ranges (RFC 5737), assigned by a hash of the name so a domain
keeps its address across scenarios and seeds. Attack infrastructure lives in 192.0.2.0/24, benign
services in 198.51.100.0/24 and 203.0.113.0/24."""

from __future__ import annotations

import hashlib

from appliance.simulate.capture import Host

# Roughly in order of how often an office visits them (a Zipf-like pick favours the first ones).
POPULAR_DOMAINS = (
    "www.google.com",
    "outlook.office365.com",
    "login.microsoftonline.com",
    "teams.microsoft.com",
    "www.youtube.com",
    "fonts.googleapis.com",
    "www.linkedin.com",
    "github.com",
    "www.wikipedia.org",
    "cdn.jsdelivr.net",
    "www.bing.com",
    "stackoverflow.com",
    "www.amazon.de",
    "www.dropbox.com",
    "slack.com",
    "zoom.us",
    "www.sap.com",
    "www.tagesschau.de",
    "www.bbc.co.uk",
    "www.lemonde.fr",
    "www.spiegel.de",
    "www.heise.de",
    "www.salesforce.com",
    "docs.python.org",
    "www.atlassian.com",
    "www.datev.de",
    "www.elster.de",
    "www.deutschebahn.com",
    "www.booking.com",
    "www.adobe.com",
    "www.mozilla.org",
    "www.apple.com",
    "www.whatsapp.com",
    "web.whatsapp.com",
    "www.reddit.com",
    "www.facebook.com",
    "www.instagram.com",
    "x.com",
    "www.ecb.europa.eu",
    "eur-lex.europa.eu",
)
AI_SERVICE_DOMAINS = (
    "api.openai.com",
    "chatgpt.com",
    "claude.ai",
    "api.anthropic.com",
    "gemini.google.com",
    "generativelanguage.googleapis.com",
    "copilot.microsoft.com",
    "www.perplexity.ai",
    "api.mistral.ai",
    "chat.deepseek.com",
    "huggingface.co",
)
# Sites that advertise HTTP/3: Chrome reaches them over QUIC (UDP 443) once it has seen them.
QUIC_DOMAINS = ("www.google.com", "www.youtube.com", "fonts.googleapis.com")
WINDOWS_UPDATE_HOSTS = ("download.windowsupdate.com", "dl.delivery.mp.microsoft.com")
LINUX_UPDATE_HOSTS = ("deb.debian.org", "security.debian.org")
UPSTREAM_DNS = ("dns.quad9.net", "9.9.9.9")
NTP_POOL = "0.pool.ntp.org"

_BENIGN_NETWORKS = ("198.51.100.", "203.0.113.")
# Content delivery networks answer for countless names from a few edge addresses; so do ours.
CDN_EDGES = {
    ".cloudfront.net": tuple(f"203.0.113.{last}" for last in range(240, 248)),
    ".akamaiedge.net": tuple(f"198.51.100.{last}" for last in range(240, 248)),
}


class Internet:
    """Hosts behind the gateway, made on first use. They share the gateway's MAC (what the LAN sees)."""

    def __init__(self, gateway_mac: str) -> None:
        self.gateway_mac = gateway_mac
        self._by_name: dict[str, Host] = {}
        self._used_ips: set[str] = set()

    def host(self, name: str) -> Host:
        if name not in self._by_name:
            self._by_name[name] = self._make(name, self._address_for(name))
        return self._by_name[name]

    def cdn_edge(self, name: str) -> str | None:
        """The CDN edge address a name resolves to, if it is a CDN's name."""
        for suffix, edges in CDN_EDGES.items():
            if name.endswith(suffix):
                return edges[hashlib.sha256(name.encode()).digest()[0] % len(edges)]
        return None

    def at(self, name: str, ip: str) -> Host:
        """A host at a chosen address: public resolvers, or attack infrastructure the indicator list names."""
        if name not in self._by_name:
            self._by_name[name] = self._make(name, ip)
        return self._by_name[name]

    def _make(self, name: str, ip: str) -> Host:
        self._used_ips.add(ip)
        distance = hashlib.sha256(name.encode()).digest()[1] % 12
        return Host(name, ip, self.gateway_mac, ttl=52 - distance, os="linux", role="external")

    def _address_for(self, name: str) -> str:
        """A free address of the benign ranges (below the CDN edges), or a shared one once they are full,
        as on the real internet, where many names share an address."""
        edge = self.cdn_edge(name)
        if edge is not None:
            return edge
        digest = hashlib.sha256(name.encode()).digest()
        network = _BENIGN_NETWORKS[digest[0] & 1]
        first = last = digest[2] % 230 + 2
        while network + str(last) in self._used_ips:
            last = last % 231 + 2
            if last == first:
                break
        return network + str(last)

    @staticmethod
    def rtt_to(host: Host) -> float:
        """Round trip from the office to that host: 8-90 ms, stable per host."""
        return 0.008 + hashlib.sha256(host.name.encode()).digest()[3] / 255 * 0.082
