"""C2_BEACON: an internal host calling one external peer on a sustained, regular rhythm, in new connections or
in bursts inside one long-lived connection.

What separates a beacon from a page load is sustained regularity over time, not its period: implants in
interactive mode call home every 1-5 s for minutes (Metasploit, Merlin, Sliver, Cobalt Strike with sleep
0-5), so there is no 5-second floor; a rhythm must instead last min_duration_s and span min_connections
check-ins. Two series per (internal source, external destination, port, protocol):
- connections: the start times and uploaded bytes of the last MAX_CALLS connections;
- bursts inside connections: C2 over HTTP/2, WebSocket or QUIC keeps one connection open and checks in as
  bursts within it. The sensor reports each long flow's burst gaps and sizes; segments of the same pair add
  up. Interactive services (SSH, RDP, VNC, Telnet) are left out of this series: a person's keep-alives.
Each series is scored as RITA scores beacons: for the intervals and for the sizes, a skew score (1 - |Bowley
skewness|) and a dispersion score (1 - MAD / median, clipped to [0, 1]); the beacon score is their mean. It
fires at >= min_connections and score >= min_score (RITA treats >= 0.8 as likely; 0.75 here because the CV
gate does the separating: an implant whose check-ins vary 3x in size scores ~0.76), and only when the
intervals themselves are regular: coefficient of variation <= max_interval_cv after dropping the longest
10% (a missed check-in or a sleeping laptop). The RITA score alone flags ~30% of fixed-size messages sent at
random (Poisson) times within a day once sizes are constant; with the CV gate 1 in 300 such sequences fires
while 4 in 5 beacons with +-50% uniform jitter are caught at their 10th connection (simulated).

Real offices are full of benign rhythm (update checks, telemetry, AV signature polls, monitoring agents,
chat keep-alives). Four things say "software, not an implant", and any one of them keeps the rule quiet:
- prevalence (RITA's): the same external address is called by common_destination_hosts or more internal
  hosts, in the baseline's learning period or within window_s;
- the destination's name (DNS answer, TLS SNI or HTTP Host seen for the address) is under one of the site's
  known_software_domains (updates, telemetry, OCSP, AV, push; editable);
- the check-ins download a lot: a median response above max_median_response_bytes is streaming (video
  segments every 4 s) or a download, not a check-in; or they upload a lot: a median upload above
  max_median_upload_bytes is a sync or backup agent (a large upload is DATA_EXFILTRATION's to judge).
NTP and DNS are left to their own rules: they are periodic by design.

Features: connections, score, interval_skew_score, interval_dispersion_score, size_skew_score,
size_dispersion_score, interval_cv, median_interval_s, median_bytes, duration_s, in_one_connection,
median_response_bytes, destination_prevalence.
"""

from __future__ import annotations

import math
from collections import deque
from itertools import accumulate, pairwise
from statistics import median, pstdev, quantiles

import msgspec

from appliance.engine.detection import Count, Detection, Fraction, Positive, Seconds
from appliance.engine.flow_traits import service_of
from appliance.engine.rules.bounded_state import BoundedMap, CappedSet
from appliance.engine.rules.rule import Rule
from sensor.records import DnsEvent, Event, Flow, HttpRequestEvent, TlsClientHelloEvent

NAME = "C2_BEACON"
DEFAULT_SEVERITY = "CRITICAL"
VERSION = "2.1.0"
SCENARIO = "c2-beacon"  # the simulator scenario that exercises it
MAX_CALLS = 256  # per pair and series; the score needs the recent rhythm, not the whole history
TIGHT_SPREAD = 0.1
PERIODIC_BY_DESIGN = {("UDP", 123), ("UDP", 53), ("TCP", 53)}
PERIODIC_SERVICES = frozenset(("ntp", "dns"))
INTERACTIVE_SERVICES = frozenset(("SSH", "RDP", "VNC", "Telnet"))


class Thresholds(msgspec.Struct, frozen=True, kw_only=True):
    min_connections: Count = 10
    min_score: Fraction = 0.75
    max_interval_cv: Positive = 0.35
    min_median_interval_s: Seconds = 1.0  # below this it is traffic, not a rhythm of check-ins
    min_duration_s: Seconds = 120.0  # a rhythm that lasts: a page load or an app's start-up does not
    common_destination_hosts: Count = 4  # internal hosts calling one address: software, not an implant
    max_median_response_bytes: Count = 262_144  # streaming and downloads, not check-ins
    max_median_upload_bytes: Count = 262_144  # a backup or sync agent's uploads, not check-ins (that is exfiltration)
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
    "in_one_connection",
    "median_response_bytes",
    "destination_prevalence",
)
MORE_IS_WORSE = ("connections", "score", "duration_s")


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


class _Series:
    """One pair's check-ins: their times (as offsets of the first), upload sizes and download sizes."""

    __slots__ = ("downloads", "first", "last", "scored_at", "seen", "sizes", "times", "uids")

    def __init__(self, first: float) -> None:
        self.first = self.last = first
        self.times: deque[float] = deque(maxlen=MAX_CALLS)
        self.sizes: deque[float] = deque(maxlen=MAX_CALLS)
        self.downloads: deque[float] = deque(maxlen=MAX_CALLS)
        self.uids: deque[str] = deque(maxlen=20)
        self.seen = 0  # check-ins ever, while the deques hold the last MAX_CALLS
        self.scored_at = 0

    def add(self, ts: float, size: float, download: float) -> None:
        self.times.append(ts)
        self.sizes.append(size)
        self.downloads.append(download)
        self.last = max(self.last, ts)
        self.seen += 1

    def forget_before(self, cutoff: float) -> None:
        while self.times and self.times[0] < cutoff:
            self.times.popleft()
            self.sizes.popleft()
            self.downloads.popleft()

    def due(self, minimum: int) -> bool:
        """Scoring sorts up to 256 values: do it when the count has grown by an eighth, not on every record."""
        if len(self.times) < minimum or self.seen - self.scored_at < max(1, self.scored_at // 8):
            return False
        self.scored_at = self.seen
        return True


class Detector(Rule):
    NAME, DEFAULT_SEVERITY, VERSION, FEATURES = NAME, DEFAULT_SEVERITY, VERSION, FEATURES

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._connections: BoundedMap[tuple, _Series] = BoundedMap(self.site.max_tracked_keys)
        self._bursts: BoundedMap[tuple, _Series] = BoundedMap(self.site.max_tracked_keys)
        self._callers: BoundedMap[str, CappedSet] = BoundedMap(self.site.max_tracked_keys)
        self._names: BoundedMap[str, str] = BoundedMap(self.site.max_tracked_keys)  # address -> a name seen for it

    def incident_idle_s(self) -> float:
        return 6 * 3600.0  # a beacon that stops for 6 h and restarts is a new incident

    def on_event(self, event: Event) -> list[Detection]:
        if isinstance(event, DnsEvent) and event.is_response:
            for answer in event.answers:
                if answer[:1].isdigit() or ":" in answer:  # an address, not a CNAME or TXT
                    self._name(answer, event.query)
        elif isinstance(event, TlsClientHelloEvent) and event.sni:
            self._name(event.dst_ip, event.sni)
        elif isinstance(event, HttpRequestEvent) and event.host:
            self._name(event.dst_ip, event.host.split(":", 1)[0])
        return []

    def _name(self, address: str, name: str) -> None:
        self._names.get_or_add(address, str)  # bounded, and marks the address as recently touched
        self._names[address] = name

    def on_flow(self, flow: Flow) -> list[Detection]:
        if (flow.proto, flow.dst_port) in PERIODIC_BY_DESIGN or flow.service in PERIODIC_SERVICES:
            return []
        if flow.proto not in ("TCP", "UDP"):
            return []
        if not self.site.is_internal(flow.src_ip) or self.site.is_internal(flow.dst_ip):
            return []
        self._callers.get_or_add(flow.dst_ip, CappedSet).add(flow.src_ip)
        key = (flow.src_ip, flow.dst_ip, flow.dst_port, flow.proto)
        out = []
        connections = self._connections.get_or_add(key, lambda: _Series(flow.ts_start))
        connections.forget_before(flow.ts_start - self.t.window_s)
        connections.add(flow.ts_start, float(flow.bytes_orig), float(flow.bytes_resp))
        connections.uids.append(flow.uid)
        if connections.due(self.t.min_connections):
            out += self._judge(key, connections, flow, in_one_connection=False)
        if flow.burst_gaps and service_of(flow) not in INTERACTIVE_SERVICES:
            bursts = self._bursts.get_or_add(key, lambda: _Series(flow.ts_start))
            self._add_bursts(bursts, flow)
            if bursts.due(self.t.min_connections):
                out += self._judge(key, bursts, flow, in_one_connection=True)
        return out

    @staticmethod
    def _add_bursts(bursts: _Series, flow: Flow) -> None:
        """The flow's last bursts as check-ins: their starts are known relative to each other (the gaps), and
        the last one started at most at the flow's end; its download share is spread evenly over its bursts."""
        starts = [0.0, *accumulate(flow.burst_gaps)]
        offset = max(flow.ts_start, flow.ts_end - starts[-1])
        download = flow.bytes_resp / max(flow.bursts_orig, 1)
        sizes = [*flow.burst_sizes][-len(starts):]
        sizes = [sizes[0]] * (len(starts) - len(sizes)) + sizes if sizes else [0] * len(starts)
        for start, size in zip(starts, sizes, strict=True):
            bursts.add(offset + start, float(size), download)
        bursts.uids.append(flow.uid)

    def _judge(self, key: tuple, series: _Series, flow: Flow, *, in_one_connection: bool) -> list[Detection]:
        features = self._score(series)
        features["in_one_connection"] = float(in_one_connection)
        features["destination_prevalence"] = float(self._prevalence(key[1]))
        if not self._is_beacon(features) or self._is_software(key[1], features):
            return []
        subject = (*key, "bursts" if in_one_connection else "connections")
        name = self._names.get(key[1], "")

        def build(incident: str) -> Detection:
            src, dst, port, proto = key
            return self.book.detection(
                incident,
                source_ip=src,
                dest_ip=dst,
                port=port,
                protocol=proto,
                first_seen=series.times[0],
                last_seen=max(series.last, flow.ts_end),
                evidence={
                    "check_ins": len(series.times),
                    "in_one_connection": in_one_connection,
                    "score": round(features["score"], 3),
                    "median_interval_s": round(features["median_interval_s"], 3),
                    "median_bytes": features["median_bytes"],
                    **({"destination_name": name} if name else {}),
                },
                flow_uids=list(series.uids),
                features=features,
            )

        return self.book.update(subject, series.seen, flow.ts_end, build)

    def _is_beacon(self, features: dict[str, float]) -> bool:
        return (
            features["score"] >= self.t.min_score
            and features["interval_cv"] <= self.t.max_interval_cv
            and features["median_interval_s"] >= self.t.min_median_interval_s
            and features["duration_s"] >= self.t.min_duration_s
        )

    def _is_software(self, dst: str, features: dict[str, float]) -> bool:
        name = self._names.get(dst)
        return (
            features["destination_prevalence"] >= self.t.common_destination_hosts
            or features["median_response_bytes"] > self.t.max_median_response_bytes
            or features["median_bytes"] > self.t.max_median_upload_bytes
            or (name is not None and self.site.software_domains.match(name) is not None)
        )

    def _prevalence(self, dst: str) -> int:
        """Internal hosts calling `dst`: the most the baseline learned or this window has seen."""
        callers = self._callers.get(dst)
        return max(len(callers) if callers is not None else 0, self.baseline.destination_clients(dst))

    @staticmethod
    def _score(series: _Series) -> dict[str, float]:
        order = sorted(range(len(series.times)), key=series.times.__getitem__)
        starts = [series.times[i] for i in order]
        intervals = [b - a for a, b in pairwise(starts)]
        sizes = list(series.sizes)
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
            "median_response_bytes": median(series.downloads),
        }

    def advance(self, now: float) -> list[Detection]:
        for table in (self._connections, self._bursts):
            table.drop_stale(lambda series: series.last < now - self.t.window_s)
        return super().advance(now)
