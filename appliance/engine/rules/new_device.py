"""NEW_DEVICE: a MAC address (or, where no MAC is visible, an internal IP) the baseline never saw, appearing
after the baseline period. During learning every device is simply learned.

Devices are taken from internal flow originators, ARP senders and DHCP clients. One incident per device;
the IPs it used and how it was first seen are the evidence (ntopng "new device" / arpwatch "new station").
Many devices "arriving" at once are not new devices but one event (a DHCP starvation tool inventing MACs, a
spoofing flood): past `burst_devices` newcomers within `burst_window_s`, they all join one burst incident.
So that the first `burst_devices` of a flood are not reported one by one before the flood shows, a newcomer
is held for `burst_window_s` of packet time before its own incident is raised (a minute's delay on a LOW
alert, against twenty false ones per flood).

Features: flows, addresses, dhcp_seen, arp_seen, hours_after_learning.
"""

from __future__ import annotations

import msgspec

from appliance.engine.detection import Count, Detection, Seconds
from appliance.engine.rules.bounded_state import BoundedMap, CappedSet, RecentTimes, Window, window_for
from appliance.engine.rules.rule import Rule
from sensor.records import ArpEvent, DhcpEvent, Event, Flow

NAME = "NEW_DEVICE"
DEFAULT_SEVERITY = "LOW"
VERSION = "1.1.0"
SCENARIO = "new-device"  # the simulator scenario that exercises it


class Thresholds(msgspec.Struct, frozen=True, kw_only=True):
    min_sightings: Count = 1
    window_s: Seconds = 86400.0  # one incident per device per day of continued presence
    # An office rarely sees more than a handful of devices arrive in a minute (a meeting room filling up);
    # a starvation tool invents hundreds.
    burst_devices: Count = 20
    burst_window_s: Seconds = 60.0


DEFAULTS = Thresholds()
FEATURES = ("flows", "addresses", "dhcp_seen", "arp_seen", "hours_after_learning")
_NO_MAC = ("", "00:00:00:00:00:00", "ff:ff:ff:ff:ff:ff")


class _Device(Window):
    __slots__ = ("addresses", "first_how", "mac", "seen_by", "sightings")

    def __init__(self, ts: float):
        super().__init__(ts)
        self.sightings = 0
        self.addresses = CappedSet()
        self.seen_by = {"flow": 0, "arp": 0, "dhcp": 0}
        self.first_how = ""
        self.mac = ""


class Detector(Rule):
    NAME, DEFAULT_SEVERITY, VERSION, FEATURES = NAME, DEFAULT_SEVERITY, VERSION, FEATURES

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._devices: BoundedMap[str, _Device] = BoundedMap(self.site.max_tracked_keys)
        self._arrivals = RecentTimes(self.t.burst_window_s, cap=self.t.burst_devices + 1)
        self._burst: _Device | None = None
        self._held: dict[str, _Device] = {}  # newcomers not reported yet, in arrival order

    def on_flow(self, flow: Flow) -> list[Detection]:
        if not self.site.is_internal(flow.src_ip):
            return []
        return self._sighting(flow.src_mac, flow.src_ip, "flow", flow.ts_start, flow.uid)

    def on_event(self, event: Event) -> list[Detection]:
        if isinstance(event, ArpEvent) and event.sender_ip not in ("", "0.0.0.0"):
            return self._sighting(event.sender_mac, event.sender_ip, "arp", event.ts, "")
        if isinstance(event, DhcpEvent) and event.msg_type in (1, 3):  # DISCOVER, REQUEST: the client speaks
            return self._sighting(event.client_mac, event.requested_ip, "dhcp", event.ts, "")
        if isinstance(event, DhcpEvent) and event.msg_type == 5 and event.client_mac.lower() in self._devices:
            return self._sighting(event.client_mac, event.offered_ip, "dhcp", event.ts, "")  # its new lease
        return []

    def _sighting(self, mac: str, ip: str, how: str, ts: float, uid: str) -> list[Detection]:
        mac = mac.lower()
        if self.baseline.learning(ts):
            return []
        identity = mac if mac not in _NO_MAC else ip
        if not identity:
            return []
        newcomer = identity not in self._devices  # one being reported stays counted after the baseline learns it
        if newcomer and (self.baseline.knows_mac(mac) if identity == mac else self.baseline.knows_ip(ip)):
            return []
        if newcomer and self._arrivals.add(ts) > self.t.burst_devices:
            return self._burst_sighting(identity, ip, how, ts, uid)
        device = window_for(self._devices, identity, ts, self.t.window_s, _Device)
        device.note(ts, uid)
        device.mac = mac if mac not in _NO_MAC else ""
        device.sightings += 1
        device.seen_by[how] += 1
        device.first_how = device.first_how or how
        if ip:
            device.addresses.add(ip)
        if newcomer:
            self._held[identity] = device
        if identity in self._held:
            return self._release_held(ts)
        return self._report(identity, device, ts)

    def _release_held(self, now: float) -> list[Detection]:
        """Report the newcomers that have waited burst_window_s without a burst swallowing them."""
        out = []
        while self._held:
            identity, device = next(iter(self._held.items()))
            if now - device.start < self.t.burst_window_s:
                break
            del self._held[identity]
            out += self._report(identity, device, now)
        return out

    def _report(self, identity: str, device: _Device, ts: float) -> list[Detection]:
        if device.sightings < self.t.min_sightings:
            return []
        device.alerting = True

        def build(incident: str) -> Detection:
            addresses = device.addresses.sample()
            return self.book.detection(
                incident,
                source_ip=addresses[0] if addresses else "",
                protocol=device.first_how.upper(),
                first_seen=device.start,
                last_seen=device.last,
                evidence={"mac": device.mac, "addresses": addresses, "seen_by": dict(device.seen_by)},
                flow_uids=device.flow_uids,
                features=self._features(device, ts),
            )

        return self.book.update((identity,), len(device.addresses) + 1, ts, build)

    def _burst_sighting(self, identity: str, ip: str, how: str, ts: float, uid: str) -> list[Detection]:
        """One more device in a burst of arrivals: counted in the burst's incident, not an incident of its own."""
        if self._burst is None or self._burst.expired(ts, self.t.burst_window_s):
            self._burst = _Device(ts)
        burst = self._burst
        for held_identity, held in self._held.items():  # the flood's first arrivals, still unreported
            self._devices.pop(held_identity, None)  # the burst's now, like every later arrival: never its own alert
            burst.start = min(burst.start, held.start)
            burst.addresses.add(held_identity)
            for channel, count in held.seen_by.items():
                burst.seen_by[channel] += count
        self._held.clear()
        burst.note(ts, uid)
        burst.sightings += 1
        burst.seen_by[how] += 1
        burst.addresses.add(identity)
        burst.alerting = True

        def build(incident: str) -> Detection:
            return self.book.detection(
                incident,
                source_ip=ip if ip not in ("", "0.0.0.0") else "0.0.0.0",
                protocol=how.upper(),
                first_seen=burst.start,
                last_seen=burst.last,
                evidence={
                    "burst": True,
                    "devices": len(burst.addresses),
                    "sample": burst.addresses.sample(),
                    "seen_by": dict(burst.seen_by),
                    "why": f"more than {self.t.burst_devices} devices appeared within "
                    f"{self.t.burst_window_s:g} s: one event, not new devices",
                },
                flow_uids=burst.flow_uids,
                features=self._features(burst, ts),
            )

        return self.book.update(("burst",), len(burst.addresses), ts, build)

    def _features(self, sighted: _Device, ts: float) -> dict[str, float]:
        """The same for one device and for a burst of them (where "addresses" counts the devices)."""
        return {
            "flows": sighted.seen_by["flow"],
            "addresses": len(sighted.addresses),
            "dhcp_seen": float(sighted.seen_by["dhcp"] > 0),
            "arp_seen": float(sighted.seen_by["arp"] > 0),
            "hours_after_learning": (ts - (self.baseline.learning_until or ts)) / 3600.0,
        }

    def advance(self, now: float) -> list[Detection]:
        out = self._release_held(now)
        self._devices.drop_stale(lambda device: device.expired(now, self.t.window_s))
        return out + super().advance(now)
