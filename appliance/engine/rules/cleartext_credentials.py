"""CLEARTEXT_CREDENTIALS: a login sent in clear: FTP USER/PASS, Telnet, POP3, IMAP, SMTP AUTH, HTTP Basic.

The sensor reports the login (CleartextLoginEvent, or an HttpRequestEvent with an Authorization: Basic
header) and never the password. One incident per (client, server, protocol); the account names are the
evidence the admin needs to reset. Anonymous FTP carries no secret and does not count.

Features: logins, distinct_users, password_seen, duration_s.
"""

from __future__ import annotations

import msgspec

from appliance.engine.detection import Count, Detection, Seconds
from appliance.engine.rules.bounded_state import BoundedMap, CappedSet, Window, window_for
from appliance.engine.rules.rule import Rule
from sensor.records import CleartextLoginEvent, Event, HttpRequestEvent

NAME = "CLEARTEXT_CREDENTIALS"
DEFAULT_SEVERITY = "MEDIUM"
VERSION = "1.0.0"
SCENARIO = "cleartext-credentials"  # the simulator scenario that exercises it
ANONYMOUS_USERS = {"anonymous", "ftp"}


class Thresholds(msgspec.Struct, frozen=True, kw_only=True):
    min_logins: Count = 1
    window_s: Seconds = 3600.0


DEFAULTS = Thresholds()
FEATURES = ("logins", "distinct_users", "password_seen", "duration_s")
MORE_IS_WORSE = ("logins",)


class _Logins(Window):
    __slots__ = ("logins", "password_seen", "users")

    def __init__(self, ts: float):
        super().__init__(ts)
        self.logins = 0
        self.users = CappedSet()
        self.password_seen = False


def login_of(event: Event) -> tuple[str, str, bool] | None:
    """(protocol, user, password seen) when the event is a cleartext login, else None."""
    if isinstance(event, CleartextLoginEvent):
        return event.protocol, event.username, event.password_seen
    if isinstance(event, HttpRequestEvent) and event.basic_auth:
        return "http_basic", event.basic_auth_user, True
    return None


class Detector(Rule):
    NAME, DEFAULT_SEVERITY, VERSION, FEATURES = NAME, DEFAULT_SEVERITY, VERSION, FEATURES

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._logins: BoundedMap[tuple, _Logins] = BoundedMap(self.site.max_tracked_keys)

    def on_event(self, event: Event) -> list[Detection]:
        login = login_of(event)
        if login is None:
            return []
        protocol, user, password_seen = login
        if protocol == "ftp" and user.lower() in ANONYMOUS_USERS:
            return []
        key = (event.src_ip, event.dst_ip, protocol)
        logins = window_for(self._logins, key, event.ts, self.t.window_s, _Logins)
        logins.note(event.ts, event.flow_uid)
        logins.logins += 1
        logins.password_seen |= password_seen
        if user:
            logins.users.add(user)
        if logins.logins < self.t.min_logins:
            return []
        logins.alerting = True

        def build(incident: str) -> Detection:
            return self.book.detection(
                incident,
                source_ip=event.src_ip,
                dest_ip=event.dst_ip,
                port=event.dst_port,
                protocol=protocol,
                first_seen=logins.start,
                last_seen=logins.last,
                evidence={
                    "protocol": protocol,
                    "users": logins.users.sample(),
                    "password_seen": logins.password_seen,
                },
                flow_uids=logins.flow_uids,
                features={
                    "logins": logins.logins,
                    "distinct_users": len(logins.users),
                    "password_seen": float(logins.password_seen),
                    "duration_s": logins.last - logins.start,
                },
            )

        return self.book.update(key, logins.logins, event.ts, build)

    def advance(self, now: float) -> list[Detection]:
        self._logins.drop_stale(lambda logins: logins.expired(now, self.t.window_s))
        return super().advance(now)
