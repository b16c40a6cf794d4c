"""PORT_SCAN: one source probing many destination ports on one host (vertical scan).

Counts probes (TCP or UDP attempts that carried no data: SYN, FIN, NULL, XMAS, connect-and-close, UDP
without reply) from one source to one host, distinct by port, in a packet-time window. Ports are held
exactly in an 8 KiB bitmask, so a full 65,535-port scan is counted right in bounded memory.

One incident per scanning source, not per host scanned: a scanner working through the subnet host by host
(an attacker's nmap of a /24, IT's asset inventory) is one alert that grows (`hosts_scanned`, a sample of
them), not one per host. Its features are the latest host's scan, which is what crossed the threshold.

Features: distinct_ports, probes, duration_s, ports_per_s, rejected_fraction (REJ/RST answers),
unanswered_fraction (no reply at all), low_port_fraction (ports < 1024), tcp (1 TCP / 0 UDP).
"""

from __future__ import annotations

from collections import Counter

import msgspec

from appliance.engine.detection import Count, Detection, Seconds
from appliance.engine.flow_traits import is_probe, tcp_probe_kind
from appliance.engine.rules.bounded_state import BoundedMap, CappedSet, PortSet, Window, window_for
from appliance.engine.rules.rule import Rule
from sensor.records import Flow

NAME = "PORT_SCAN"
DEFAULT_SEVERITY = "HIGH"
VERSION = "2.0.0"
SCENARIO = "port-scan"  # the simulator scenario that exercises it


class Thresholds(msgspec.Struct, frozen=True, kw_only=True):
    # Zeek policy/misc/scan.zeek: port_scan_threshold = 15 unique ports, port_scan_interval = 5 min.
    min_ports: Count = 15
    window_s: Seconds = 300.0


DEFAULTS = Thresholds()
FEATURES = (
    "distinct_ports",
    "probes",
    "duration_s",
    "ports_per_s",
    "rejected_fraction",
    "unanswered_fraction",
    "low_port_fraction",
    "tcp",
)
MORE_IS_WORSE = ("distinct_ports", "probes")


class _Scan(Window):
    __slots__ = ("kinds", "low_ports", "ports", "probes", "rejected", "unanswered")

    def __init__(self, ts: float):
        super().__init__(ts)
        self.ports = PortSet()
        self.probes = self.rejected = self.unanswered = self.low_ports = 0
        self.kinds: Counter[str] = Counter()


class _Scanner(Window):
    """The hosts one source port-scanned while its incident is open."""

    __slots__ = ("hosts",)

    def __init__(self, ts: float):
        super().__init__(ts)
        self.hosts = CappedSet()


class Detector(Rule):
    NAME, DEFAULT_SEVERITY, VERSION, FEATURES = NAME, DEFAULT_SEVERITY, VERSION, FEATURES

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._scans: BoundedMap[tuple, _Scan] = BoundedMap(self.site.max_tracked_keys)
        self._scanners: BoundedMap[tuple, _Scanner] = BoundedMap(self.site.max_tracked_keys)

    def on_flow(self, flow: Flow) -> list[Detection]:
        if not is_probe(flow):
            return []
        key = (flow.src_ip, flow.dst_ip, flow.proto)
        scan = window_for(self._scans, key, flow.ts_start, self.t.window_s, _Scan)
        scan.note(flow.ts_end, flow.uid)
        scan.probes += 1
        scan.rejected += flow.conn_state in ("REJ", "RSTR", "RSTOS0")
        scan.unanswered += flow.pkts_resp == 0
        scan.kinds[tcp_probe_kind(flow)] += 1
        if scan.ports.add(flow.dst_port):
            scan.low_ports += flow.dst_port < 1024
        if len(scan.ports) < self.t.min_ports:
            return []
        scan.alerting = True
        subject = (flow.src_ip, flow.proto)
        scanner = window_for(self._scanners, subject, flow.ts_start, self.t.window_s, _Scanner)
        scanner.alerting = True
        scanner.note(flow.ts_end)
        scanner.hosts.add(flow.dst_ip)
        return self.book.update(
            subject, (len(scanner.hosts) - 1) * self.t.min_ports + len(scan.ports), flow.ts_end,
            lambda incident: self._detection(incident, key, scan, scanner),
        )

    def _detection(self, incident: str, key: tuple, scan: _Scan, scanner: _Scanner) -> Detection:
        src, dst, proto = key
        ports = len(scan.ports)
        hosts = len(scanner.hosts)
        span = max(scan.last - scan.start, 1.0)  # per second, never inflated by sub-second bursts
        return self.book.detection(
            incident,
            source_ip=src,
            dest_ip=dst if hosts == 1 else "",
            protocol=proto,
            first_seen=min(scan.start, scanner.start),
            last_seen=scan.last,
            evidence={
                "distinct_ports": ports,
                "probes": scan.probes,
                "ports_sample": scan.ports.sample(),
                "scan_types": dict(scan.kinds),
                "hosts_scanned": hosts,
                "hosts_sample": scanner.hosts.sample(),
            },
            flow_uids=scan.flow_uids,
            features={
                "distinct_ports": ports,
                "probes": scan.probes,
                "duration_s": scan.last - scan.start,
                "ports_per_s": ports / span,
                "rejected_fraction": scan.rejected / scan.probes,
                "unanswered_fraction": scan.unanswered / scan.probes,
                "low_port_fraction": scan.low_ports / ports,
                "tcp": float(proto == "TCP"),
            },
        )

    def advance(self, now: float) -> list[Detection]:
        self._scans.drop_stale(lambda scan: scan.expired(now, self.t.window_s))
        self._scanners.drop_stale(lambda scanner: scanner.expired(now, self.t.window_s))
        return super().advance(now)
