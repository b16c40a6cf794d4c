"""BRUTE_FORCE: many failed logins from one source to one authentication service, or to one service from many
sources at once.

The service is what the flow speaks (the sensor identifies it from its bytes: SSH on port 2222 is SSH), the
server port only a fallback. What counts is failed login attempts, not sessions: guessing tools try 3-6
passwords per SSH connection, so a dozen connections can carry dozens of guesses.
- Where the sensor saw the logins (it infers SSH attempts and their outcome from the sizes of the encrypted
  packets after the key exchange, as Zeek's SSH analyser does, and reads the replies of FTP, POP3, IMAP,
  SMTP AUTH, Telnet, MySQL, PostgreSQL, SMB, VNC, LDAP, Redis...), each failed attempt counts, and an attempt
  whose outcome is unknown counts when the session ended without a success.
- Where it did not (an encrypted service it cannot read, an old sensor), a failed-looking session counts as
  one attempt: established, a little data both ways, ended quickly. Long or large sessions are real work.
Defaults: Zeek's detect-bruteforcing.zeek (30 failed logins in 30 min) and the Suricata/ET "possible SSH
brute force" rules (5 new sessions in 2 min) bracket ours: 20 failed attempts in 30 min from one source. A
distributed guess (many sources, one server) needs distributed_min_sources sources and twice the attempts.
SMTP without AUTH (relays deliver mail in bursts of short sessions), LDAP without a bind result (Windows
clients open short LDAP sessions to the DC all day) and IMAP or POP3 whose login the sensor could not read (a
mail client's send/receive every few minutes is a short STARTTLS session: from a whole office, hundreds of
failed-looking sessions an hour) only count attempts the sensor saw fail. Guessing tools log in in clear text,
which the sensor reads, or over implicit TLS (993, 995), which is TLS, not a mail login it could count.

Features: failed_attempts, connections, attempts_per_connection, attempts_per_min, successes,
outcome_known_fraction, mean_duration_s, mean_payload_orig, mean_payload_resp, duration_s, distinct_sources,
standard_port.
"""

from __future__ import annotations

import msgspec

from appliance.engine.detection import Count, Detection, Seconds
from appliance.engine.flow_traits import SERVICE_BY_PORT, duration, service_of
from appliance.engine.rules.bounded_state import BoundedMap, CappedSet, Window, window_for
from appliance.engine.rules.rule import Rule
from sensor.records import Flow

NAME = "BRUTE_FORCE"
DEFAULT_SEVERITY = "HIGH"
VERSION = "2.1.0"
SCENARIO = "brute-force"  # the simulator scenario that exercises it

# Services where logging in is the first thing a session does, so a short session is a failed-looking one.
LOGIN_FIRST_SERVICES = frozenset((
    "SSH", "FTP", "Telnet", "SMB", "MSSQL", "MySQL", "PostgreSQL", "RDP", "VNC", "Oracle", "Redis", "MongoDB",
))
# Services that also carry logins, but whose short sessions are routine: only attempts seen failing count.
LOGIN_SOMETIMES_SERVICES = frozenset(("SMTP", "LDAP", "HTTP", "SIP", "SOCKS", "IMAP", "POP3"))
STANDARD_PORTS: dict[str, frozenset[int]] = {}
for _port, _service in SERVICE_BY_PORT.items():
    STANDARD_PORTS[_service] = STANDARD_PORTS.get(_service, frozenset()) | {_port}


class Thresholds(msgspec.Struct, frozen=True, kw_only=True):
    min_failed_attempts: Count = 20
    window_s: Seconds = 1800.0
    max_session_s: Seconds = 30.0  # a login exchange, not a working session
    max_session_payload: Count = 16_384  # bytes each way: handshake + credentials + refusal
    distributed_min_sources: Count = 5


DEFAULTS = Thresholds()
FEATURES = (
    "failed_attempts",
    "connections",
    "attempts_per_connection",
    "attempts_per_min",
    "successes",
    "outcome_known_fraction",
    "mean_duration_s",
    "mean_payload_orig",
    "mean_payload_resp",
    "duration_s",
    "distinct_sources",
    "standard_port",
)
MORE_IS_WORSE = ("failed_attempts", "attempts_per_min")


class _Attempts(Window):
    __slots__ = ("connections", "failed", "known", "payload_orig", "payload_resp", "port", "sources", "successes",
                 "total_duration")

    def __init__(self, ts: float):
        super().__init__(ts)
        self.connections = self.failed = self.known = self.successes = 0
        self.total_duration = 0.0
        self.payload_orig = self.payload_resp = self.port = 0
        self.sources = CappedSet()


class Detector(Rule):
    NAME, DEFAULT_SEVERITY, VERSION, FEATURES = NAME, DEFAULT_SEVERITY, VERSION, FEATURES

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._by_source: BoundedMap[tuple, _Attempts] = BoundedMap(self.site.max_tracked_keys)
        self._by_target: BoundedMap[tuple, _Attempts] = BoundedMap(self.site.max_tracked_keys)

    def failed_attempts(self, flow: Flow, service: str) -> tuple[int, bool]:
        """(failed login attempts this flow carried, whether the sensor saw its logins)."""
        if flow.auth_attempts:
            unknown = flow.auth_attempts - flow.auth_failures - flow.auth_successes
            return flow.auth_failures + (max(unknown, 0) if not flow.auth_successes else 0), True
        if service in LOGIN_FIRST_SERVICES and self._is_failed_looking(flow):
            return 1, False
        return 0, False

    def _is_failed_looking(self, flow: Flow) -> bool:
        return (
            flow.payload_orig > 0
            and flow.payload_resp > 0
            and duration(flow) <= self.t.max_session_s
            and flow.payload_orig <= self.t.max_session_payload
            and flow.payload_resp <= self.t.max_session_payload
        )

    def on_flow(self, flow: Flow) -> list[Detection]:
        service = service_of(flow)
        if service not in LOGIN_FIRST_SERVICES and service not in LOGIN_SOMETIMES_SERVICES:
            return []
        failed, seen = self.failed_attempts(flow, service)
        if not failed and not flow.auth_successes:
            return []
        out = []
        by_source = window_for(self._by_source, (flow.src_ip, flow.dst_ip, service), flow.ts_start,
                               self.t.window_s, _Attempts)
        self._count(by_source, flow, failed, seen)
        if by_source.alerting or by_source.failed >= self.t.min_failed_attempts:
            by_source.alerting = True
            out += self._emit((flow.src_ip, flow.dst_ip, service), by_source, flow.src_ip)
        by_target = window_for(self._by_target, (flow.dst_ip, service), flow.ts_start, self.t.window_s, _Attempts)
        self._count(by_target, flow, failed, seen)
        if by_target.alerting or (
            len(by_target.sources) >= self.t.distributed_min_sources
            and by_target.failed >= 2 * self.t.min_failed_attempts
        ):
            by_target.alerting = True
            out += self._emit((flow.dst_ip, service, "distributed"), by_target, "")
        return out

    @staticmethod
    def _count(attempts: _Attempts, flow: Flow, failed: int, seen: bool) -> None:
        attempts.note(flow.ts_end, flow.uid if failed else "")
        attempts.connections += 1
        attempts.failed += failed
        attempts.known += seen
        attempts.successes += flow.auth_successes
        attempts.total_duration += duration(flow)
        attempts.payload_orig += flow.payload_orig
        attempts.payload_resp += flow.payload_resp
        attempts.port = flow.dst_port
        attempts.sources.add(flow.src_ip)

    def _emit(self, subject: tuple, attempts: _Attempts, source: str) -> list[Detection]:
        def build(incident: str) -> Detection:
            return self._detection(incident, subject, attempts, source)

        return self.book.update(subject, attempts.failed, attempts.last, build)

    def _detection(self, incident: str, subject: tuple, attempts: _Attempts, source: str) -> Detection:
        if source:
            _, dst, service = subject
        else:
            dst, service, _ = subject
        n, span = attempts.connections, attempts.last - attempts.start
        sources = attempts.sources.sample()
        return self.book.detection(
            incident,
            source_ip=source or sources[0],
            dest_ip=dst,
            port=attempts.port,
            protocol="TCP",
            first_seen=attempts.start,
            last_seen=attempts.last,
            evidence={
                "service": service,
                "failed_attempts": attempts.failed,
                "connections": n,
                "successful_logins": attempts.successes,
                "attempts_seen_by_sensor": attempts.known > 0,
                **({} if source else {"distinct_sources": len(attempts.sources), "sources_sample": sources}),
            },
            flow_uids=attempts.flow_uids,
            features={
                "failed_attempts": attempts.failed,
                "connections": n,
                "attempts_per_connection": attempts.failed / n,
                "attempts_per_min": attempts.failed * 60.0 / max(span, 60.0),
                "successes": attempts.successes,
                "outcome_known_fraction": attempts.known / n,
                "mean_duration_s": attempts.total_duration / n,
                "mean_payload_orig": attempts.payload_orig / n,
                "mean_payload_resp": attempts.payload_resp / n,
                "duration_s": span,
                "distinct_sources": len(attempts.sources),
                "standard_port": float(attempts.port in STANDARD_PORTS.get(service, ())),
            },
        )

    def advance(self, now: float) -> list[Detection]:
        for table in (self._by_source, self._by_target):
            table.drop_stale(lambda attempts: attempts.expired(now, self.t.window_s))
        return super().advance(now)
