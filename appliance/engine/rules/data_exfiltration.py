"""DATA_EXFILTRATION: a large upload from an internal host to one external peer, much larger than what came
back. Outside business hours (SiteConfig.business_hours) the volume bar is divided by off_hours_factor:
the same upload at 3 a.m. is weighed up.

Per (internal source, external destination), IP bytes both ways are summed over flows within window_s.
Defaults follow ntopng's "elephant flow" / Stratosphere upload heuristics: 50 MB up in an hour with an
upload/download ratio of at least 5 (normal browsing and streaming are download-heavy).

Features: upload_bytes, download_bytes, upload_ratio, flows, duration_s, off_hours, upload_mbit_per_s.
"""

from __future__ import annotations

import msgspec

from appliance.engine.detection import Count, Detection, Positive, Seconds
from appliance.engine.rules.bounded_state import BoundedMap, Window, window_for
from appliance.engine.rules.rule import Rule
from sensor.records import Flow

NAME = "DATA_EXFILTRATION"
DEFAULT_SEVERITY = "CRITICAL"
VERSION = "1.0.0"
SCENARIO = "data-exfiltration"  # the simulator scenario that exercises it


class Thresholds(msgspec.Struct, frozen=True, kw_only=True):
    min_upload_bytes: Count = 50_000_000
    min_upload_ratio: Positive = 5.0
    off_hours_factor: Positive = 2.0
    window_s: Seconds = 3600.0


DEFAULTS = Thresholds()
FEATURES = (
    "upload_bytes",
    "download_bytes",
    "upload_ratio",
    "flows",
    "duration_s",
    "off_hours",
    "upload_mbit_per_s",
)
MORE_IS_WORSE = ("upload_bytes",)


class _Transfer(Window):
    __slots__ = ("down", "flows", "off_hours", "ports", "up")

    def __init__(self, ts: float):
        super().__init__(ts)
        self.up = self.down = self.flows = 0
        self.off_hours = False
        self.ports: set[int] = set()


class Detector(Rule):
    NAME, DEFAULT_SEVERITY, VERSION, FEATURES = NAME, DEFAULT_SEVERITY, VERSION, FEATURES

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._transfers: BoundedMap[tuple, _Transfer] = BoundedMap(self.site.max_tracked_keys)

    def on_flow(self, flow: Flow) -> list[Detection]:
        if not self.site.is_internal(flow.src_ip) or self.site.is_internal(flow.dst_ip):
            return []
        key = (flow.src_ip, flow.dst_ip)
        transfer = window_for(self._transfers, key, flow.ts_start, self.t.window_s, _Transfer)
        transfer.note(flow.ts_end, flow.uid)
        transfer.up += flow.bytes_orig
        transfer.down += flow.bytes_resp
        transfer.flows += 1
        if len(transfer.ports) < 16:
            transfer.ports.add(flow.dst_port)
        transfer.off_hours |= not self.site.business_hours.contains(flow.ts_start)
        bar = self.t.min_upload_bytes / (self.t.off_hours_factor if transfer.off_hours else 1.0)
        ratio = transfer.up / max(transfer.down, 1)
        if transfer.up < bar or ratio < self.t.min_upload_ratio:
            return []
        transfer.alerting = True

        def build(incident: str) -> Detection:
            span = transfer.last - transfer.start
            return self.book.detection(
                incident,
                source_ip=flow.src_ip,
                dest_ip=flow.dst_ip,
                port=flow.dst_port if len(transfer.ports) == 1 else 0,
                protocol=flow.proto,
                first_seen=transfer.start,
                last_seen=transfer.last,
                evidence={
                    "upload_bytes": transfer.up,
                    "download_bytes": transfer.down,
                    "ports": sorted(transfer.ports),
                    "off_hours": transfer.off_hours,
                    "effective_min_upload_bytes": int(bar),
                },
                flow_uids=transfer.flow_uids,
                features={
                    "upload_bytes": transfer.up,
                    "download_bytes": transfer.down,
                    "upload_ratio": ratio,
                    "flows": transfer.flows,
                    "duration_s": span,
                    "off_hours": float(transfer.off_hours),
                    "upload_mbit_per_s": transfer.up * 8 / 1e6 / max(span, 1.0),
                },
            )

        return self.book.update(key, transfer.up, flow.ts_end, build)

    def advance(self, now: float) -> list[Detection]:
        self._transfers.drop_stale(lambda transfer: transfer.expired(now, self.t.window_s))
        return super().advance(now)
