"""C2_BEACON: an internal host calling one external peer at regular intervals with regular sizes.

Per (internal source, external destination, port, protocol), the start times and uploaded bytes of the last
MAX_CONNECTIONS connections within window_s are scored the way RITA scores beacons: for the intervals and
for the sizes, a skew score (1 - |Bowley skewness|) and a dispersion score (1 - MAD / median, clipped to
[0, 1]); the beacon score is their mean. It fires at >= min_connections (RITA's default floor is 20; the
product table asks >= 10) and score >= min_score (RITA treats >= 0.8 as likely; 0.75 here because the CV gate
below does the separating: an implant whose check-ins vary 3x in size scores ~0.76), and only when the
intervals themselves are regular: coefficient of variation <= max_interval_cv after dropping the longest
10% (a missed check-in or a sleeping laptop). The RITA score alone flags ~30% of fixed-size messages sent
at random (Poisson) times within a day once sizes are constant; with the CV gate 1 in 300 such sequences
fires while 4 in 5 beacons with +-50% uniform jitter are caught at their 10th connection (simulated).
NTP and DNS are left to their own rules: they are periodic by design.

Features: connections, score, interval_skew_score, interval_dispersion_score, size_skew_score,
size_dispersion_score, interval_cv, median_interval_s, median_bytes, duration_s.
"""

from __future__ import annotations

import math
from collections import deque
from itertools import pairwise
from statistics import median, pstdev, quantiles

import msgspec

from appliance.engine.detection import Count, Detection, Fraction, Positive, Seconds
from appliance.engine.rules.bounded_state import BoundedMap
from appliance.engine.rules.rule import Rule
from sensor.records import Flow

NAME = "C2_BEACON"
DEFAULT_SEVERITY = "CRITICAL"
VERSION = "1.0.0"
MAX_CONNECTIONS = 256  # per pair; the score needs the recent rhythm, not the whole history
TIGHT_SPREAD = 0.1
PERIODIC_BY_DESIGN = {("UDP", 123), ("UDP", 53), ("TCP", 53)}


class Thresholds(msgspec.Struct, frozen=True, kw_only=True):
    min_connections: Count = 10
    min_score: Fraction = 0.75
    max_interval_cv: Positive = 0.35
    min_median_interval_s: Seconds = 5.0  # below this it is a burst (a page load), not a beacon
    window_s: Seconds = 86400.0  # RITA analyses a day of logs


DEFAULTS = Thresholds()
FEATURES = (
    "connections",
    "score",
    "interval_skew_score",
    "interval_dispersion_score",
    "size_skew_score",
    "size_dispersion_score",
    "interval_cv",
    "median_interval_s",
    "median_bytes",
    "duration_s",
)


def skew_score(values: list[float]) -> float:
    """1 - |Bowley skewness|: 1 for a symmetric distribution (a jittered beacon), toward 0 for a tail.
    Bowley skewness is scale-free, so two sizes 5% apart (TLS records of 896 and 946 bytes) would look
    maximally skewed: a spread within TIGHT_SPREAD of the median is regular, whatever its shape."""
    q1, q2, q3 = quantiles(values, n=4, method="inclusive")
    if q3 - q1 <= TIGHT_SPREAD * abs(q2):
        return 1.0
    return 1.0 - abs((q3 + q1 - 2.0 * q2) / (q3 - q1))


def trimmed_cv(intervals: list[float]) -> float:
    """Coefficient of variation without the longest 10% of intervals (gaps, not rhythm)."""
    kept = sorted(intervals)[: len(intervals) - len(intervals) // 10]
    mean = sum(kept) / len(kept)
    return pstdev(kept) / mean if mean > 0 else math.inf


def dispersion_score(values: list[float]) -> float:
    """1 - MAD/median clipped to [0, 1]: 1 when every value sits on the median."""
    mid = median(values)
    if mid <= 0:
        return 0.0
    mad = median(abs(value - mid) for value in values)
    return max(0.0, 1.0 - mad / mid)


class _Calls:
    __slots__ = ("scored_at", "seen", "sizes", "starts", "uids")

    def __init__(self) -> None:
        self.starts: deque[float] = deque(maxlen=MAX_CONNECTIONS)
        self.sizes: deque[float] = deque(maxlen=MAX_CONNECTIONS)
        self.uids: deque[str] = deque(maxlen=20)
        self.seen = 0  # connections ever, while the deques hold the last MAX_CONNECTIONS
        self.scored_at = 0


class Detector(Rule):
    NAME, DEFAULT_SEVERITY, VERSION, FEATURES = NAME, DEFAULT_SEVERITY, VERSION, FEATURES

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pairs: BoundedMap[tuple, _Calls] = BoundedMap(self.site.max_tracked_keys)

    def incident_idle_s(self) -> float:
        return 6 * 3600.0  # a beacon that stops for 6 h and restarts is a new incident

    def on_flow(self, flow: Flow) -> list[Detection]:
        if (flow.proto, flow.dst_port) in PERIODIC_BY_DESIGN or flow.proto not in ("TCP", "UDP"):
            return []
        if not self.site.is_internal(flow.src_ip) or self.site.is_internal(flow.dst_ip):
            return []
        key = (flow.src_ip, flow.dst_ip, flow.dst_port, flow.proto)
        calls = self._pairs.get_or_add(key, _Calls)
        while calls.starts and calls.starts[0] < flow.ts_start - self.t.window_s:
            calls.starts.popleft()
            calls.sizes.popleft()
        calls.starts.append(flow.ts_start)
        calls.sizes.append(float(flow.bytes_orig))
        calls.uids.append(flow.uid)
        calls.seen += 1
        n = len(calls.starts)
        # scoring sorts up to 256 values: do it when the count has grown by an eighth, not on every flow
        if n < self.t.min_connections or calls.seen - calls.scored_at < max(1, calls.scored_at // 8):
            return []
        calls.scored_at = calls.seen
        features = self._score(calls)
        if (
            features["score"] < self.t.min_score
            or features["interval_cv"] > self.t.max_interval_cv
            or features["median_interval_s"] < self.t.min_median_interval_s
        ):
            return []

        def build(incident: str) -> Detection:
            src, dst, port, proto = key
            return self.book.detection(
                incident,
                source_ip=src,
                dest_ip=dst,
                port=port,
                protocol=proto,
                first_seen=calls.starts[0],
                last_seen=flow.ts_end,
                evidence={
                    "connections": n,
                    "score": round(features["score"], 3),
                    "median_interval_s": round(features["median_interval_s"], 3),
                    "median_bytes": features["median_bytes"],
                },
                flow_uids=list(calls.uids),
                features=features,
            )

        return self.book.update(key, calls.seen, flow.ts_end, build)

    def _score(self, calls: _Calls) -> dict[str, float]:
        starts = sorted(calls.starts)
        intervals = [b - a for a, b in pairwise(starts)]
        sizes = list(calls.sizes)
        parts = {
            "interval_skew_score": skew_score(intervals),
            "interval_dispersion_score": dispersion_score(intervals),
            "size_skew_score": skew_score(sizes),
            "size_dispersion_score": dispersion_score(sizes),
        }
        return {
            "connections": len(starts),
            "score": sum(parts.values()) / len(parts),
            **parts,
            "interval_cv": trimmed_cv(intervals),
            "median_interval_s": median(intervals),
            "median_bytes": median(sizes),
            "duration_s": starts[-1] - starts[0],
        }

    def advance(self, now: float) -> list[Detection]:
        self._pairs.drop_stale(lambda calls: not calls.starts or calls.starts[-1] < now - self.t.window_s)
        return super().advance(now)
