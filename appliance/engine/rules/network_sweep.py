"""NETWORK_SWEEP: one source reaching many hosts: on one TCP/UDP port, with ICMP echo, or with ARP who-has.

Two triggers per (source, method, port), either is enough:
- volume: min_hosts distinct hosts within window_s (Zeek scan.zeek: 25 hosts in 5 min; ARP uses its own,
  higher, count because gateways legitimately ARP for many hosts over minutes);
- burst: burst_hosts new hosts within burst_s. Sweep tools hit hosts back to back (18 ICMP hosts in 1.6 s,
  256 ARP targets in 13 s in the reference captures) which Zeek's 25-host count can miss, while normal
  hosts almost never contact a dozen new peers on one port within a few seconds.
TCP/UDP attempts count only as probes (no data either way; UDP to DNS and NTP never: resolvers and NTP
clients ask many servers and some stay silent); multicast and broadcast targets never count.

Features: distinct_hosts, attempts, duration_s, hosts_per_s, max_hosts_in_burst, icmp, arp, tcp.
"""

from __future__ import annotations

import msgspec

from appliance.engine.detection import Count, Detection, Seconds
from appliance.engine.flow_traits import is_echo_request, is_probe
from appliance.engine.network import is_multicast_or_broadcast
from appliance.engine.rules.bounded_state import BoundedMap, CappedSet, RecentTimes, Window, window_for
from appliance.engine.rules.rule import Rule
from sensor.records import ArpEvent, Event, Flow

NAME = "NETWORK_SWEEP"
DEFAULT_SEVERITY = "HIGH"
VERSION = "1.0.0"
SCENARIO = "network-sweep"  # the simulator scenario that exercises it


# UDP services whose clients ask many servers and shrug off silence: a recursive resolver walking
# authoritative servers, an NTP client trying pool servers. Unanswered queries there are not probes.
ASKS_MANY_SERVERS = {53, 123}


class Thresholds(msgspec.Struct, frozen=True, kw_only=True):
    # Zeek policy/misc/scan.zeek: addr_scan_threshold = 25 hosts, addr_scan_interval = 5 min.
    min_hosts: Count = 25
    window_s: Seconds = 300.0
    # ARP: ntopng-style higher bar, gateways refresh many ARP entries within minutes.
    arp_min_hosts: Count = 64
    # Rate trigger for fast sweeps (nmap -sn / arp-scan / fping speed).
    burst_hosts: Count = 12
    burst_s: Seconds = 3.0


DEFAULTS = Thresholds()
FEATURES = (
    "distinct_hosts",
    "attempts",
    "duration_s",
    "hosts_per_s",
    "max_hosts_in_burst",
    "icmp",
    "arp",
    "tcp",
)
MORE_IS_WORSE = ("distinct_hosts", "attempts")


class _Sweep(Window):
    __slots__ = ("attempts", "hosts", "max_burst", "recent")

    def __init__(self, ts: float, burst_s: float, burst_cap: int):
        super().__init__(ts)
        self.hosts = CappedSet()
        self.attempts = 0
        self.recent = RecentTimes(burst_s, burst_cap)
        self.max_burst = 0


class Detector(Rule):
    NAME, DEFAULT_SEVERITY, VERSION, FEATURES = NAME, DEFAULT_SEVERITY, VERSION, FEATURES

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._sweeps: BoundedMap[tuple, _Sweep] = BoundedMap(self.site.max_tracked_keys)

    def on_flow(self, flow: Flow) -> list[Detection]:
        if is_echo_request(flow):
            key = (flow.src_ip, flow.proto, 0)
        elif is_probe(flow) and not (flow.proto == "UDP" and flow.dst_port in ASKS_MANY_SERVERS):
            key = (flow.src_ip, flow.proto, flow.dst_port)
        else:
            return []
        return self._attempt(key, flow.dst_ip, flow.ts_start, flow.ts_end, flow.uid)

    def on_event(self, event: Event) -> list[Detection]:
        if not isinstance(event, ArpEvent) or event.op != 1 or event.target_ip == event.sender_ip:
            return []  # only who-has for another address (gratuitous ARP announces, it does not ask)
        sender = event.sender_ip if event.sender_ip not in ("", "0.0.0.0") else event.sender_mac
        return self._attempt((sender, "ARP", 0), event.target_ip, event.ts, event.ts, "")

    def _attempt(self, key: tuple, host: str, start: float, end: float, uid: str) -> list[Detection]:
        if not host or is_multicast_or_broadcast(host):
            return []
        sweep = window_for(
            self._sweeps,
            key,
            start,
            self.t.window_s,
            lambda ts: _Sweep(ts, self.t.burst_s, 4 * self.t.burst_hosts),
        )
        sweep.note(end, uid)
        sweep.attempts += 1
        if sweep.hosts.add(host):
            sweep.max_burst = max(sweep.max_burst, sweep.recent.add(start))
        min_hosts = self.t.arp_min_hosts if key[1] == "ARP" else self.t.min_hosts
        if not sweep.alerting and len(sweep.hosts) < min_hosts and sweep.max_burst < self.t.burst_hosts:
            return []
        sweep.alerting = True
        return self.book.update(
            key, len(sweep.hosts), end, lambda incident: self._detection(incident, key, sweep)
        )

    def _detection(self, incident: str, key: tuple, sweep: _Sweep) -> Detection:
        src, method, port = key
        hosts = len(sweep.hosts)
        return self.book.detection(
            incident,
            source_ip=src,
            port=port,
            protocol=method,
            first_seen=sweep.start,
            last_seen=sweep.last,
            evidence={
                "method": method,
                "distinct_hosts": hosts,
                "attempts": sweep.attempts,
                "hosts_sample": sweep.hosts.sample(),
                "max_hosts_in_burst": sweep.max_burst,
            },
            flow_uids=sweep.flow_uids,
            features={
                "distinct_hosts": hosts,
                "attempts": sweep.attempts,
                "duration_s": sweep.last - sweep.start,
                "hosts_per_s": hosts / max(sweep.last - sweep.start, 1.0),
                "max_hosts_in_burst": sweep.max_burst,
                "icmp": float(method.startswith("ICMP")),
                "arp": float(method == "ARP"),
                "tcp": float(method == "TCP"),
            },
        )

    def advance(self, now: float) -> list[Detection]:
        self._sweeps.drop_stale(lambda sweep: sweep.expired(now, self.t.window_s))
        return super().advance(now)
