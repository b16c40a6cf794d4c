"""SYN_FLOOD: a flood of half-open connections against one service (one host and port).

A half-open attempt is a TCP flow whose originator sent SYN but never acknowledged anything (Zeek history
has 'S' and no 'A' from the originator: S0, REJ, or SYN-ACK left unanswered). Counting per destination
port keeps port scans (many ports, few SYNs each) out; counting SYN packets, not flows, keeps floods that
reuse one 5-tuple in. Default from ntopng's SYN flood alert (50 SYN/s to one victim) over a 10 s window.

Features: syn_packets, half_open_flows, distinct_sources, syn_per_s, rejected_fraction, duration_s.
"""

from __future__ import annotations

import msgspec

from appliance.engine.detection import Count, Detection, Seconds
from appliance.engine.rules.bounded_state import BoundedMap, CappedSet, Window, window_for
from appliance.engine.rules.rule import Rule
from sensor.records import Flow

NAME = "SYN_FLOOD"
DEFAULT_SEVERITY = "HIGH"
VERSION = "1.0.0"
SCENARIO = "syn-flood"  # the simulator scenario that exercises it


class Thresholds(msgspec.Struct, frozen=True, kw_only=True):
    min_syn_packets: Count = 500  # = 50 SYN/s over the window
    window_s: Seconds = 10.0


DEFAULTS = Thresholds()
FEATURES = (
    "syn_packets",
    "half_open_flows",
    "distinct_sources",
    "syn_per_s",
    "rejected_fraction",
    "duration_s",
)
MORE_IS_WORSE = ("syn_packets", "half_open_flows")


def is_half_open(flow: Flow) -> bool:
    history = flow.history
    if flow.proto != "TCP" or "A" in history or "D" in history:
        return False
    return "S" in history or flow.conn_state in ("S0", "REJ")


class _Flood(Window):
    __slots__ = ("flows", "rejected", "sources", "syn")

    def __init__(self, ts: float):
        super().__init__(ts)
        self.syn = self.flows = self.rejected = 0
        self.sources = CappedSet()


class Detector(Rule):
    NAME, DEFAULT_SEVERITY, VERSION, FEATURES = NAME, DEFAULT_SEVERITY, VERSION, FEATURES

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._floods: BoundedMap[tuple, _Flood] = BoundedMap(self.site.max_tracked_keys)

    def incident_idle_s(self) -> float:
        return max(60.0, self.t.window_s)  # a flood pausing for a minute is still the same attack

    def on_flow(self, flow: Flow) -> list[Detection]:
        if not is_half_open(flow):
            return []
        key = (flow.dst_ip, flow.dst_port)
        flood = window_for(self._floods, key, flow.ts_start, self.t.window_s, _Flood)
        flood.note(flow.ts_end, flow.uid)
        flood.syn += max(flow.syn, 1)
        flood.flows += 1
        flood.rejected += flow.conn_state == "REJ"
        flood.sources.add(flow.src_ip)
        if flood.syn < self.t.min_syn_packets:
            return []
        flood.alerting = True
        return self.book.update(
            key, flood.syn, flow.ts_end, lambda incident: self._detection(incident, key, flood)
        )

    def _detection(self, incident: str, key: tuple, flood: _Flood) -> Detection:
        dst, port = key
        span = flood.last - flood.start
        sources = flood.sources.sample(1)
        return self.book.detection(
            incident,
            source_ip=sources[0] if len(flood.sources) == 1 else "",
            dest_ip=dst,
            port=port,
            protocol="TCP",
            first_seen=flood.start,
            last_seen=flood.last,
            evidence={
                "syn_packets": flood.syn,
                "half_open_flows": flood.flows,
                "distinct_sources": len(flood.sources),
                "sources_sample": flood.sources.sample(),
            },
            flow_uids=flood.flow_uids,
            features={
                "syn_packets": flood.syn,
                "half_open_flows": flood.flows,
                "distinct_sources": len(flood.sources),
                "syn_per_s": flood.syn / max(span, 1.0),
                "rejected_fraction": flood.rejected / flood.flows,
                "duration_s": span,
            },
        )

    def advance(self, now: float) -> list[Detection]:
        self._floods.drop_stale(lambda flood: flood.expired(now, self.t.window_s))
        return super().advance(now)
