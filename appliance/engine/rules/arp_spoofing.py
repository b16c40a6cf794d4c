"""ARP_SPOOFING: a MAC taking over IP addresses that belong to other live hosts, seen in ARP or in the traffic
itself.

From ARP. Per IP the rule remembers its owner (the first MAC that held it) and its current MAC. A rebinding
counts against the MAC that took the address over while the previous holder was seen less than
rebind_window_s ago (a lease handed to a new device after the old one left is no attack); when the owner takes
its address back, that counts against the MAC it displaced. One MAC announcing (is-at, or gratuitous ARP) at
least max_ips_per_mac addresses within window_s is a claim on all of them. Defaults after arpwatch ("flip
flop", "changed ethernet address") and ntopng's "IP-MAC association changed" alert.

From the data plane. On a real mirror port the forged replies can be the only ARP for the gateway the sensor
ever sees, so the rule also learns from IP traffic:
- which MAC each internal address sends from (a MAC that sources exactly one internal address is that host's
  own; one that sources several is a router or a NAT, and owns none of them): it keeps the address's binding
  alive, so a claim on it by another MAC is a takeover even when no ARP of the owner was ever seen, and an ARP
  claim by a host's MAC for the router's address is one MAC answering for two addresses (a host announcing a
  new address of its own, link-local to DHCP, is not);
- which MAC carries each host's traffic to an external address (its next hop, normally the router): when the
  traffic to the same address turns, between connections or in the middle of one, to the MAC of another
  internal host (one that sends from an address of its own and is nobody's router), that host now sits in
  the middle; a route through a VPN box on the LAN is the same for a destination every time, and a new router
  sends from no host address of its own;
- a man in the middle's forwarded copy: the same packets seen once from the victim to the attacker's MAC and
  again from the attacker's MAC to the router's (the sensor reports a flow's second MAC pair).
All of it lands in one incident per spoofing MAC, so a two-way man-in-the-middle (gateway and victims
poisoned) is one alert whose destination is the impersonated host: a configured gateway first.

Features: claimed_ips, mac_changes, is_gateway, replies, duration_s, intercepted_hosts, forwarded_flows.
"""

from __future__ import annotations

import msgspec

from appliance.engine.detection import Count, Detection, Seconds
from appliance.engine.rules.bounded_state import BoundedMap, CappedSet, Window, window_for
from appliance.engine.rules.rule import Rule
from sensor.records import ArpEvent, Event, Flow

NAME = "ARP_SPOOFING"
DEFAULT_SEVERITY = "HIGH"
VERSION = "2.0.0"
SCENARIO = "arp-spoofing"  # the simulator scenario that exercises it
ROUTER_HOSTS = 2  # a next hop that carries the external traffic of this many hosts is the site's router


class Thresholds(msgspec.Struct, frozen=True, kw_only=True):
    rebind_window_s: Seconds = 600.0
    max_ips_per_mac: Count = 4
    window_s: Seconds = 300.0


DEFAULTS = Thresholds()
FEATURES = (
    "claimed_ips",
    "mac_changes",
    "is_gateway",
    "replies",
    "duration_s",
    "intercepted_hosts",
    "forwarded_flows",
)
MORE_IS_WORSE = ("claimed_ips", "mac_changes", "intercepted_hosts", "forwarded_flows")
_NO_ADDRESS = ("", "0.0.0.0")
_NO_MAC = ("", "00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff")


class _Binding:
    __slots__ = ("last_seen", "mac", "owner")

    def __init__(self, mac: str, ts: float):
        self.owner = self.mac = mac
        self.last_seen = ts


class _Claims(Window):
    """What one MAC claimed: all announced addresses, those it took from a live owner, the hosts whose
    traffic it carried in the middle."""

    __slots__ = ("displaced", "forwarded", "gateway", "intercepted", "ips", "mac_changes", "replies", "router",
                 "taken")

    def __init__(self, ts: float):
        super().__init__(ts)
        self.ips = CappedSet()
        self.taken = CappedSet()
        self.displaced = CappedSet()
        self.intercepted = CappedSet()
        self.replies = self.mac_changes = self.forwarded = 0
        self.gateway = ""  # a configured (or the router's own) address among the claimed ones
        self.router = ""  # the MAC whose traffic it took over


class Detector(Rule):
    NAME, DEFAULT_SEVERITY, VERSION, FEATURES = NAME, DEFAULT_SEVERITY, VERSION, FEATURES

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        cap = self.site.max_tracked_keys
        self._bindings: BoundedMap[str, _Binding] = BoundedMap(cap)
        self._homes: BoundedMap[str, str] = BoundedMap(cap)  # MAC -> its own IP, from ARP
        self._claims: BoundedMap[str, _Claims] = BoundedMap(cap)
        self._sources: BoundedMap[str, CappedSet] = BoundedMap(cap)  # MAC -> internal IPs it sends from
        self._next_hop: BoundedMap[tuple, str] = BoundedMap(cap)  # (internal IP, external IP) -> the MAC between
        self._served: BoundedMap[str, CappedSet] = BoundedMap(cap)  # MAC -> hosts it is the next hop of

    def incident_idle_s(self) -> float:
        return max(self.t.window_s, self.t.rebind_window_s)

    # --- ARP -------------------------------------------------------------------------------------------------
    def on_event(self, event: Event) -> list[Detection]:
        if not isinstance(event, ArpEvent):
            return []
        ip, mac = event.sender_ip, event.sender_mac.lower()
        if ip in _NO_ADDRESS or mac in _NO_MAC:
            return []  # ARP probes (RFC 5227) carry no claim
        spoofer, displaced = self._rebinding(ip, mac, event.ts)
        announces = event.op == 2 or event.target_ip == ip  # a reply, or a gratuitous ARP
        if spoofer is None and announces and self._impersonates_router(mac, ip):
            spoofer, displaced = mac, ""  # a host's MAC answering for the router's address
        if spoofer is None and not announces:
            return []
        claims = window_for(self._claims, spoofer or mac, event.ts, self.incident_idle_s(), _Claims)
        claims.note(event.ts)
        claims.ips.add(ip)
        if ip in self.site.gateways or (ip == self._router_address() and not self._is_router(mac)):
            claims.gateway = ip
        claims.replies += announces
        if spoofer is not None:
            claims.mac_changes += 1
            claims.taken.add(ip)
            if displaced:
                claims.displaced.add(displaced)
        if not (claims.alerting or claims.mac_changes or len(claims.ips) >= self.t.max_ips_per_mac):
            return []
        return self._emit(spoofer or mac, claims, event.ts)

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

    # --- the data plane --------------------------------------------------------------------------------------
    def on_flow(self, flow: Flow) -> list[Detection]:
        src_mac, dst_mac = flow.src_mac.lower(), flow.dst_mac.lower()
        if src_mac in _NO_MAC or not self.site.is_internal(flow.src_ip):
            return []
        self._learn_source(src_mac, flow)
        if dst_mac in _NO_MAC or self.site.is_internal(flow.dst_ip):
            return []
        middle = self._middle_of(flow, src_mac, dst_mac)
        self._served.get_or_add(dst_mac, CappedSet).add(flow.src_ip)
        if middle is None:
            return []
        mac, router, forwarded = middle
        return self._intercepted(mac, flow, router=router, forwarded=forwarded)

    def _middle_of(self, flow: Flow, src_mac: str, dst_mac: str) -> tuple[str, str, bool] | None:
        """(the MAC in the middle, the next hop it displaced or passes traffic on to, whether its forwarded
        copy was seen) when this external-bound flow went through another internal host's MAC."""
        alt_src, alt_dst = flow.src_mac_alt.lower(), flow.dst_mac_alt.lower()
        previous = self._next_hop.get((flow.src_ip, flow.dst_ip))
        self._next_hop.get_or_add((flow.src_ip, flow.dst_ip), str)
        self._next_hop[(flow.src_ip, flow.dst_ip)] = dst_mac
        if alt_src and alt_src == dst_mac and alt_src != src_mac and alt_dst not in _NO_MAC and alt_dst != dst_mac:
            candidate = (dst_mac, alt_dst, True)  # victim -> middle, then middle -> next hop: the same packets
        elif alt_src == src_mac and alt_dst not in _NO_MAC and alt_dst != dst_mac:
            candidate = (alt_dst, dst_mac, False)  # mid-connection, the victim's packets turned to another MAC
        elif previous and previous != dst_mac:
            candidate = (dst_mac, previous, False)  # the same destination, reached through another MAC than before
        else:
            return None
        middle = candidate[0]
        if self._is_router(middle) or not self._is_host(middle, flow.src_ip):
            return None
        return candidate

    def _learn_source(self, mac: str, flow: Flow) -> None:
        self._sources.get_or_add(mac, CappedSet).add(flow.src_ip)
        binding = self._bindings.get(flow.src_ip)
        if binding is not None and binding.mac == mac:
            binding.last_seen = max(binding.last_seen, flow.ts_end)  # the address is still in use by its MAC
        elif binding is None and len(self._sources[mac]) == 1:
            self._bindings.get_or_add(flow.src_ip, lambda: _Binding(mac, flow.ts_start))

    def _intercepted(self, mac: str, flow: Flow, *, router: str, forwarded: bool) -> list[Detection]:
        claims = window_for(self._claims, mac, flow.ts_start, self.incident_idle_s(), _Claims)
        claims.note(flow.ts_end, flow.uid)
        claims.intercepted.add(flow.src_ip)
        claims.forwarded += forwarded
        claims.router = claims.router or router
        gateway = self._own_address(router)
        if gateway and not claims.gateway:
            claims.gateway = gateway
        return self._emit(mac, claims, flow.ts_end)

    def _sent_from(self, mac: str) -> str:
        """The one internal address `mac` sends IP traffic from, "" when it has none or several (a router)."""
        sources = self._sources.get(mac)
        return sources.sample(1)[0] if sources is not None and len(sources) == 1 else ""

    def _own_address(self, mac: str) -> str:
        """The address `mac` sends from, else the first it announced in ARP."""
        return self._sent_from(mac) or self._homes.get(mac, "")

    def _is_router(self, mac: str) -> bool:
        served = self._served.get(mac)
        return served is not None and len(served) >= ROUTER_HOSTS

    def _impersonates_router(self, mac: str, ip: str) -> bool:
        """An end host's MAC announcing the router's address (configured, or the one the router sends from).
        A host announcing some other new address of its own is moving (link-local to DHCP, a new lease)."""
        own = self._sent_from(mac)
        if not own or own == ip or self._is_router(mac):
            return False
        return ip in self.site.gateways or ip == self._router_address()

    def _is_host(self, mac: str, victim: str) -> bool:
        """An end host's MAC: it sends from one internal address of its own, not the victim's."""
        own = self._sent_from(mac)
        return bool(own) and own != victim

    def _router_address(self) -> str:
        routers = [mac for mac, served in self._served.items() if len(served) >= ROUTER_HOSTS]
        return self._own_address(routers[-1]) if routers else ""

    # --- incidents -------------------------------------------------------------------------------------------
    def _emit(self, mac: str, claims: _Claims, ts: float) -> list[Detection]:
        claims.alerting = True

        def build(incident: str) -> Detection:
            return self._detection(incident, mac, claims)

        count = len(claims.ips) + claims.mac_changes + len(claims.intercepted)
        return self.book.update((mac,), count, ts, build)

    def _detection(self, incident: str, mac: str, claims: _Claims) -> Detection:
        claimed = claims.ips.sample()
        taken = claims.taken.sample()
        intercepted = claims.intercepted.sample()
        impersonated = claims.gateway or (taken or claimed or [""])[0]
        home = self._own_address(mac)
        return self.book.detection(
            incident,
            source_ip=home if home and home not in claims.taken else impersonated or intercepted[0],
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
                "intercepted_hosts": intercepted,
                **({"router_mac": claims.router} if claims.router else {}),
            },
            flow_uids=claims.flow_uids,
            features={
                "claimed_ips": len(claims.ips),
                "mac_changes": claims.mac_changes,
                "is_gateway": float(bool(claims.gateway)),
                "replies": claims.replies,
                "duration_s": claims.last - claims.start,
                "intercepted_hosts": len(claims.intercepted),
                "forwarded_flows": claims.forwarded,
            },
        )

    def advance(self, now: float) -> list[Detection]:
        self._claims.drop_stale(lambda claims: claims.expired(now, self.incident_idle_s()))
        return super().advance(now)
