"""ARP_SPOOFING: a MAC taking over IP addresses that belong to other live hosts, or claiming many at once.

Per IP the rule remembers its owner (the first MAC that held it) and its current MAC. A rebinding counts
against the MAC that took the address over while the previous holder was seen less than rebind_window_s
ago (a lease handed to a new device after the old one left is no attack); when the owner takes its address
back, that counts against the MAC it displaced. Separately, one MAC announcing (is-at, or gratuitous ARP) at
least max_ips_per_mac addresses within window_s is a claim on all of them. Both land in one incident per
spoofing MAC, so a two-way man-in-the-middle (gateway and victims poisoned) is one alert whose destination
is the impersonated host: a configured gateway first. Defaults after arpwatch ("flip flop", "changed
ethernet address") and ntopng's "IP-MAC association changed" alert.

Features: claimed_ips, mac_changes, is_gateway, replies, duration_s.
"""

from __future__ import annotations

import msgspec

from appliance.engine.detection import Count, Detection, Seconds
from appliance.engine.rules.bounded_state import BoundedMap, CappedSet, Window, window_for
from appliance.engine.rules.rule import Rule
from sensor.records import ArpEvent, Event

NAME = "ARP_SPOOFING"
DEFAULT_SEVERITY = "HIGH"
VERSION = "1.0.0"


class Thresholds(msgspec.Struct, frozen=True, kw_only=True):
    rebind_window_s: Seconds = 600.0
    max_ips_per_mac: Count = 4
    window_s: Seconds = 300.0


DEFAULTS = Thresholds()
FEATURES = ("claimed_ips", "mac_changes", "is_gateway", "replies", "duration_s")
_NO_ADDRESS = ("", "0.0.0.0")
_NO_MAC = ("", "00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff")


class _Binding:
    __slots__ = ("last_seen", "mac", "owner")

    def __init__(self, mac: str, ts: float):
        self.owner = self.mac = mac
        self.last_seen = ts


class _Claims(Window):
    """What one MAC claimed: all announced addresses, and those it took from a live owner."""

    __slots__ = ("displaced", "gateway", "ips", "mac_changes", "replies", "taken")

    def __init__(self, ts: float):
        super().__init__(ts)
        self.ips = CappedSet()
        self.taken = CappedSet()
        self.displaced = CappedSet()
        self.replies = self.mac_changes = 0
        self.gateway = ""  # a configured gateway among the claimed addresses


class Detector(Rule):
    NAME, DEFAULT_SEVERITY, VERSION, FEATURES = NAME, DEFAULT_SEVERITY, VERSION, FEATURES

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._bindings: BoundedMap[str, _Binding] = BoundedMap(self.site.max_tracked_keys)
        self._homes: BoundedMap[str, str] = BoundedMap(self.site.max_tracked_keys)  # MAC -> its own IP
        self._claims: BoundedMap[str, _Claims] = BoundedMap(self.site.max_tracked_keys)

    def incident_idle_s(self) -> float:
        return max(self.t.window_s, self.t.rebind_window_s)

    def on_event(self, event: Event) -> list[Detection]:
        if not isinstance(event, ArpEvent):
            return []
        ip, mac = event.sender_ip, event.sender_mac.lower()
        if ip in _NO_ADDRESS or mac in _NO_MAC:
            return []  # ARP probes (RFC 5227) carry no claim
        spoofer, displaced = self._rebinding(ip, mac, event.ts)
        announces = event.op == 2 or event.target_ip == ip  # a reply, or a gratuitous ARP
        if spoofer is None and not announces:
            return []
        claims = window_for(self._claims, spoofer or mac, event.ts, self.incident_idle_s(), _Claims)
        claims.note(event.ts)
        claims.ips.add(ip)
        if ip in self.site.gateways:
            claims.gateway = ip
        claims.replies += announces
        if spoofer is not None:
            claims.mac_changes += 1
            claims.taken.add(ip)
            claims.displaced.add(displaced)
        if not (claims.alerting or claims.mac_changes or len(claims.ips) >= self.t.max_ips_per_mac):
            return []
        claims.alerting = True
        subject = spoofer or mac
        return self.book.update(
            (subject,),
            len(claims.ips) + claims.mac_changes,
            event.ts,
            lambda incident: self._detection(incident, subject, claims),
        )

    def _rebinding(self, ip: str, mac: str, ts: float) -> tuple[str | None, str]:
        """(the MAC to blame, the MAC it displaced) when `ip` changed hands while still in use."""
        binding = self._bindings.get(ip)
        if binding is None:
            self._bindings.get_or_add(ip, lambda: _Binding(mac, ts))
            self._homes.get_or_add(mac, lambda: ip)
            return None, ""
        self._bindings.move_to_end(ip)
        if binding.mac == mac:
            binding.last_seen = max(binding.last_seen, ts)
            return None, ""
        previous, live = binding.mac, ts - binding.last_seen <= self.t.rebind_window_s
        binding.mac, binding.last_seen = mac, ts
        if not live:
            binding.owner = mac  # the address was free: a new holder, not a takeover
            return None, ""
        if mac == binding.owner:
            return previous, mac  # the owner took its address back from `previous`
        return mac, previous

    def _detection(self, incident: str, mac: str, claims: _Claims) -> Detection:
        claimed = claims.ips.sample()
        taken = claims.taken.sample()
        impersonated = claims.gateway or (taken or claimed)[0]
        home = self._homes.get(mac, "")
        return self.book.detection(
            incident,
            source_ip=home if home and home not in claims.taken else impersonated,
            dest_ip=impersonated,
            protocol="ARP",
            first_seen=claims.start,
            last_seen=claims.last,
            evidence={
                "mac": mac,
                "gateway": bool(claims.gateway),
                "claimed_ips": claimed,
                "taken_over_ips": taken,
                "displaced_macs": claims.displaced.sample(),
            },
            features={
                "claimed_ips": len(claims.ips),
                "mac_changes": claims.mac_changes,
                "is_gateway": float(bool(claims.gateway)),
                "replies": claims.replies,
                "duration_s": claims.last - claims.start,
            },
        )

    def advance(self, now: float) -> list[Detection]:
        self._claims.drop_stale(lambda claims: claims.expired(now, self.incident_idle_s()))
        return super().advance(now)
