"""BRUTE_FORCE: many short, failed-looking sessions from one source to one authentication service.

A failed-looking session is a TCP conversation that was established and exchanged a little data, then ended
quickly: what each wrong password leaves (the server answers, the client gives up or is dropped). Long or
large sessions are real work and never count. Defaults: Zeek's detect-bruteforcing.zeek (30 failed logins,
30 min) is tuned for SSH logs with auth results; without them we ask for 20 short sessions in 10 min,
between that and Suricata/ET "possible SSH brute force" rules (5 new sessions in 2 min).

Features: short_sessions, sessions_per_min, mean_duration_s, mean_payload_orig, mean_payload_resp,
duration_s, service_port.
"""

from __future__ import annotations

import msgspec

from appliance.engine.detection import Count, Detection, Seconds
from appliance.engine.flow_traits import duration
from appliance.engine.rules.bounded_state import BoundedMap, Window, window_for
from appliance.engine.rules.rule import Rule
from sensor.records import Flow

NAME = "BRUTE_FORCE"
DEFAULT_SEVERITY = "HIGH"
VERSION = "1.0.0"

# Services where a login is the first thing a session does. Not SMTP on 25 (relays deliver mail in bursts of
# short sessions without logging in) nor LDAP on 389 (Windows clients open short LDAP sessions to the DC
# all day): both would look like brute force on every ordinary network.
AUTH_SERVICES: dict[int, str] = {
    21: "FTP",
    22: "SSH",
    23: "Telnet",
    110: "POP3",
    143: "IMAP",
    445: "SMB",
    465: "SMTPS",
    587: "SMTP",
    993: "IMAPS",
    995: "POP3S",
    1433: "MSSQL",
    3306: "MySQL",
    3389: "RDP",
    5432: "PostgreSQL",
    5900: "VNC",
    5901: "VNC",
    1521: "Oracle",
    6379: "Redis",
    27017: "MongoDB",
}


class Thresholds(msgspec.Struct, frozen=True, kw_only=True):
    min_sessions: Count = 20
    window_s: Seconds = 600.0
    max_session_s: Seconds = 30.0  # a login exchange, not a working session
    max_session_payload: Count = 16_384  # bytes each way: handshake + credentials + refusal


DEFAULTS = Thresholds()
FEATURES = (
    "short_sessions",
    "sessions_per_min",
    "mean_duration_s",
    "mean_payload_orig",
    "mean_payload_resp",
    "duration_s",
    "service_port",
)


class _Attempts(Window):
    __slots__ = ("payload_orig", "payload_resp", "sessions", "total_duration")

    def __init__(self, ts: float):
        super().__init__(ts)
        self.sessions = 0
        self.total_duration = 0.0
        self.payload_orig = self.payload_resp = 0


class Detector(Rule):
    NAME, DEFAULT_SEVERITY, VERSION, FEATURES = NAME, DEFAULT_SEVERITY, VERSION, FEATURES

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._attempts: BoundedMap[tuple, _Attempts] = BoundedMap(self.site.max_tracked_keys)

    def _is_failed_looking(self, flow: Flow) -> bool:
        return (
            flow.proto == "TCP"
            and flow.dst_port in AUTH_SERVICES
            and flow.payload_orig > 0
            and flow.payload_resp > 0
            and duration(flow) <= self.t.max_session_s
            and flow.payload_orig <= self.t.max_session_payload
            and flow.payload_resp <= self.t.max_session_payload
        )

    def on_flow(self, flow: Flow) -> list[Detection]:
        if not self._is_failed_looking(flow):
            return []
        key = (flow.src_ip, flow.dst_ip, flow.dst_port)
        attempts = window_for(self._attempts, key, flow.ts_start, self.t.window_s, _Attempts)
        attempts.note(flow.ts_end, flow.uid)
        attempts.sessions += 1
        attempts.total_duration += duration(flow)
        attempts.payload_orig += flow.payload_orig
        attempts.payload_resp += flow.payload_resp
        if attempts.sessions < self.t.min_sessions:
            return []
        attempts.alerting = True
        return self.book.update(
            key, attempts.sessions, flow.ts_end, lambda incident: self._detection(incident, key, attempts)
        )

    def _detection(self, incident: str, key: tuple, attempts: _Attempts) -> Detection:
        src, dst, port = key
        n = attempts.sessions
        span = attempts.last - attempts.start
        return self.book.detection(
            incident,
            source_ip=src,
            dest_ip=dst,
            port=port,
            protocol="TCP",
            first_seen=attempts.start,
            last_seen=attempts.last,
            evidence={"service": AUTH_SERVICES[port], "short_sessions": n},
            flow_uids=attempts.flow_uids,
            features={
                "short_sessions": n,
                "sessions_per_min": n * 60.0 / max(span, 60.0),
                "mean_duration_s": attempts.total_duration / n,
                "mean_payload_orig": attempts.payload_orig / n,
                "mean_payload_resp": attempts.payload_resp / n,
                "duration_s": span,
                "service_port": port,
            },
        )

    def advance(self, now: float) -> list[Detection]:
        self._attempts.drop_stale(lambda attempts: attempts.expired(now, self.t.window_s))
        return super().advance(now)
