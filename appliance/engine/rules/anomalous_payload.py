"""ANOMALOUS_PAYLOAD: a host calling out on a protocol and port it never used, with a flow far from everything
the site did during the baseline period.

After learning, a flow is checked when its source is a host the baseline knows (a device that was on the
network while it learned; a stranger is NEW_DEVICE's business) with at least min_host_flows originated
baseline flows. min_host_flows is 0 by default: a printer that only ever received print jobs has originated
nothing, and its first outbound session is exactly what this rule is for. With only_new_ports (default on)
the flow must also go to a protocol and server port the host never called while learning: the engineering
station's long Modbus polls and the intranet's database sessions are rare on the site as a whole, and the
forest isolates them, but for those hosts they are the daily routine.

The baseline's IsolationForest (see baseline.py) scores the flow. It fires when the score is above both the
score that `contamination` of the baseline flows exceeded and the absolute floor min_score (Liu et al.:
scores well above 0.5 mark anomalies; the floor keeps a very uniform site from alerting on its tail). One
incident per host per window; its evidence is the most deviating features against the host's own profile.

Features: anomaly_score, score_threshold, anomalous_flows, host_baseline_flows, max_abs_z, plus the
flow's own baseline features (baseline.FLOW_FEATURES) of the most anomalous flow.
"""

from __future__ import annotations

import msgspec

from appliance.engine.baseline import FLOW_FEATURES, flow_features
from appliance.engine.detection import Detection, Fraction, Minimum, Seconds
from appliance.engine.rules.bounded_state import BoundedMap, Window, window_for
from appliance.engine.rules.rule import Rule
from sensor.records import Flow

NAME = "ANOMALOUS_PAYLOAD"
DEFAULT_SEVERITY = "MEDIUM"
VERSION = "1.1.0"
SCENARIO = "anomalous-payload"  # the simulator scenario that exercises it


class Thresholds(msgspec.Struct, frozen=True, kw_only=True):
    contamination: Fraction = 0.005
    min_score: Fraction = 0.65
    min_host_flows: Minimum = 0
    only_new_ports: bool = True
    window_s: Seconds = 3600.0


DEFAULTS = Thresholds()
FEATURES = (
    "anomaly_score",
    "score_threshold",
    "anomalous_flows",
    "host_baseline_flows",
    "max_abs_z",
    *FLOW_FEATURES,
)
MORE_IS_WORSE = ("anomaly_score",)


class _Anomalies(Window):
    __slots__ = ("count", "worst_flow", "worst_score", "worst_values")

    def __init__(self, ts: float):
        super().__init__(ts)
        self.count = 0
        self.worst_score = 0.0
        self.worst_values: list[float] = []
        self.worst_flow: Flow | None = None


class Detector(Rule):
    NAME, DEFAULT_SEVERITY, VERSION, FEATURES = NAME, DEFAULT_SEVERITY, VERSION, FEATURES

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._hosts: BoundedMap[str, _Anomalies] = BoundedMap(self.site.max_tracked_keys)

    def _threshold(self) -> float:
        return max(self.t.min_score, self.baseline.score_at_contamination(self.t.contamination))

    def on_flow(self, flow: Flow) -> list[Detection]:
        if self.baseline.learning(flow.ts_start):
            return []
        history = self.baseline.host_flow_count(flow.src_ip)
        if not self.baseline.knows_ip(flow.src_ip) or history < self.t.min_host_flows:
            return []
        if self.t.only_new_ports and self.baseline.called_port(flow):
            return []
        values = flow_features(flow)
        score = self.baseline.anomaly_score(values)
        threshold = self._threshold()
        if score is None or score < threshold:
            return []
        host = window_for(self._hosts, flow.src_ip, flow.ts_start, self.t.window_s, _Anomalies)
        host.note(flow.ts_end, flow.uid)
        host.alerting = True
        host.count += 1
        if score > host.worst_score:
            host.worst_score, host.worst_values, host.worst_flow = score, values, flow

        def build(incident: str) -> Detection:
            z = self.baseline.host_z_scores(flow.src_ip, host.worst_values)
            worst = host.worst_flow
            top = sorted(z.items(), key=lambda item: -abs(item[1]))[:3]
            return self.book.detection(
                incident,
                source_ip=flow.src_ip,
                dest_ip=worst.dst_ip,
                port=worst.dst_port,
                protocol=worst.proto,
                first_seen=host.start,
                last_seen=host.last,
                evidence={
                    "anomaly_score": round(host.worst_score, 4),
                    "score_threshold": round(threshold, 4),
                    "anomalous_flows": host.count,
                    "host_baseline_flows": history,
                    "most_deviating_features": dict(top),
                },
                flow_uids=host.flow_uids,
                features={
                    "anomaly_score": host.worst_score,
                    "score_threshold": threshold,
                    "anomalous_flows": host.count,
                    "host_baseline_flows": history,
                    "max_abs_z": max((abs(v) for v in z.values()), default=0.0),
                    **dict(zip(FLOW_FEATURES, host.worst_values, strict=True)),
                },
            )

        return self.book.update((flow.src_ip,), host.count, flow.ts_end, build)

    def advance(self, now: float) -> list[Detection]:
        self._hosts.drop_stale(lambda host: host.expired(now, self.t.window_s))
        return super().advance(now)
