"""LATERAL_MOVEMENT: internal -> internal remote administration (RDP, SSH, SMB, WinRM, RPC, VNC) that is unusual.

The service is what the flow speaks (the sensor identifies it from its bytes), with the server port only as a
fallback: SSH on port 2222 is SSH, and HTTP on port 22 is not.

Two triggers, per source host:
- new behaviour (only after the baseline period): the host opens a service it never originated while the
  baseline learned, to a peer that is not a common server for it (one that at least common_server_clients
  hosts used while learning: a laptop back from holiday mapping the file share is not an attacker). One
  incident per (source, service); the peers reached are the evidence.
- fan-out (at any time): the host reaches fanout_hosts distinct internal hosts on these services within
  window_s: worm-like or admin-tool spreading (PsExec, WMI, SSH loops). Defaults follow the common
  SIEM "one account/host to many hosts" correlations (10 hosts in 10 min). After the baseline period, a
  host that already administered hosts with this service while learning (the automation server, the
  admins' jump host) counts only the peers it never reached then: its routine fan-out is its job.
A new-behaviour incident stays open for novel_idle_s (6 h), so one host's unusual sessions to a server over
an afternoon are one alert, not one per quarter of an hour, and a (host, service, peer) already reported is
not new again for reported_memory_s (30 days): the admin has seen it once.
Only sessions count (data went both ways): failed attempts on these ports are a NETWORK_SWEEP's business.

Features: distinct_peers, connections, services, new_service (1 when the baseline never saw it),
new_peer_fraction (peers the baseline never saw this host reach), mean_payload_orig (bytes the source
sent per session: tool transfers are large), duration_s.
"""

from __future__ import annotations

import msgspec

from appliance.engine.detection import Count, Detection, Seconds
from appliance.engine.flow_traits import admin_service
from appliance.engine.rules.bounded_state import BoundedMap, CappedSet, Window, window_for
from appliance.engine.rules.rule import Rule
from sensor.records import Flow

NAME = "LATERAL_MOVEMENT"
DEFAULT_SEVERITY = "HIGH"
VERSION = "1.1.0"
SCENARIO = "lateral-movement"  # the simulator scenario that exercises it


class Thresholds(msgspec.Struct, frozen=True, kw_only=True):
    fanout_hosts: Count = 10
    window_s: Seconds = 600.0
    new_service_after_learning: bool = True
    common_server_clients: Count = 3
    novel_idle_s: Seconds = 6 * 3600.0
    reported_memory_s: Seconds = 30 * 86400.0


DEFAULTS = Thresholds()
FEATURES = (
    "distinct_peers",
    "connections",
    "services",
    "new_service",
    "new_peer_fraction",
    "mean_payload_orig",
    "duration_s",
)
MORE_IS_WORSE = ("distinct_peers", "new_peer_fraction")


class _Activity(Window):
    __slots__ = ("connections", "new_peers", "payload_orig", "peers", "services")

    def __init__(self, ts: float):
        super().__init__(ts)
        self.peers = CappedSet()
        self.new_peers = 0
        self.connections = self.payload_orig = 0
        self.services: set[str] = set()


class Detector(Rule):
    NAME, DEFAULT_SEVERITY, VERSION, FEATURES = NAME, DEFAULT_SEVERITY, VERSION, FEATURES

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._fanout: BoundedMap[tuple, _Activity] = BoundedMap(self.site.max_tracked_keys)
        self._novel: BoundedMap[tuple, _Activity] = BoundedMap(self.site.max_tracked_keys)
        self._reported: BoundedMap[tuple, float] = BoundedMap(self.site.max_tracked_keys)  # (src, service, peer)

    def incident_idle_s(self) -> float:
        return max(self.t.window_s, self.t.novel_idle_s)

    def on_flow(self, flow: Flow) -> list[Detection]:
        service = admin_service(flow)
        if service is None or flow.src_ip == flow.dst_ip or not (flow.payload_orig and flow.payload_resp):
            return []
        if not (self.site.is_internal(flow.src_ip) and self.site.is_internal(flow.dst_ip)):
            return []
        out = []
        fanout = window_for(self._fanout, (flow.src_ip, "fan-out"), flow.ts_start, self.t.window_s, _Activity)
        self._count(fanout, flow, service)
        if fanout.alerting or self._fanout_peers(fanout, flow, service) >= self.t.fanout_hosts:
            fanout.alerting = True
            out += self._emit((flow.src_ip, "fan-out"), fanout, new_service=False)
        if self._is_new_behaviour(flow, service):
            novel = window_for(self._novel, (flow.src_ip, service), flow.ts_start, self.t.novel_idle_s, _Activity)
            novel.alerting = True
            self._count(novel, flow, service)
            self._reported.get_or_add((flow.src_ip, service, flow.dst_ip), float)
            self._reported[(flow.src_ip, service, flow.dst_ip)] = flow.ts_start
            out += self._emit((flow.src_ip, service), novel, new_service=True)
        return out

    def _fanout_peers(self, fanout: _Activity, flow: Flow, service: str) -> int:
        """Peers that count toward fan-out: all of them, but for a host that administered with this service
        while the (finished) baseline learned, only the ones it never reached then."""
        if self.baseline.learning(flow.ts_start) or not self.baseline.originated_service(flow.src_ip, service):
            return len(fanout.peers)
        return fanout.new_peers

    def _is_new_behaviour(self, flow: Flow, service: str) -> bool:
        reported = self._reported.get((flow.src_ip, service, flow.dst_ip))
        if reported is not None and flow.ts_start - reported < self.t.reported_memory_s:
            return False
        return (
            self.t.new_service_after_learning
            and not self.baseline.learning(flow.ts_start)
            and not self.baseline.originated_service(flow.src_ip, service)
            and self.baseline.server_clients(service, flow.dst_ip) < self.t.common_server_clients
        )

    def _count(self, activity: _Activity, flow: Flow, service: str) -> None:
        activity.note(flow.ts_end, flow.uid)
        activity.connections += 1
        activity.payload_orig += flow.payload_orig
        activity.services.add(service)
        if activity.peers.add(flow.dst_ip):
            activity.new_peers += not self.baseline.reached_peer(flow.src_ip, service, flow.dst_ip)

    def _emit(self, subject: tuple, activity: _Activity, new_service: bool) -> list[Detection]:
        def build(incident: str) -> Detection:
            src = subject[0]
            peers = len(activity.peers)
            return self.book.detection(
                incident,
                source_ip=src,
                dest_ip=activity.peers.sample(1)[0] if peers == 1 else "",
                protocol="TCP",
                first_seen=activity.start,
                last_seen=activity.last,
                evidence={
                    "trigger": "new_service" if new_service else "fan_out",
                    "services": sorted(activity.services),
                    "distinct_peers": peers,
                    "peers_sample": activity.peers.sample(),
                    "connections": activity.connections,
                },
                flow_uids=activity.flow_uids,
                features={
                    "distinct_peers": peers,
                    "connections": activity.connections,
                    "services": len(activity.services),
                    "new_service": float(new_service),
                    "new_peer_fraction": activity.new_peers / peers,
                    "mean_payload_orig": activity.payload_orig / activity.connections,
                    "duration_s": activity.last - activity.start,
                },
            )

        return self.book.update(subject, len(activity.peers), activity.last, build)

    def advance(self, now: float) -> list[Detection]:
        self._fanout.drop_stale(lambda activity: activity.expired(now, self.t.window_s))
        self._novel.drop_stale(lambda activity: activity.expired(now, self.t.novel_idle_s))
        return super().advance(now)
