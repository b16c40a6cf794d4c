"""KERBEROASTING: service tickets an attacker can crack offline.

- RC4 downgrade: a TGS-REP hands the client an RC4-HMAC (etype 23/24) or DES ticket although the client's
  TGS-REQ offered AES (17/18): the domain uses AES, and the account behind the service still has an RC4
  key, which is what Rubeus/Impacket request. One such ticket is the mark (Suricata krb5 kerberoasting
  test, Sean Metcalf's detection: 4769 with ticket encryption 0x17).
- burst: one client asks for tickets to min_services distinct services within window_s (roasting every
  SPN); normal logons ask for a handful.
Request and reply are correlated by client/DC pair (the reply goes from the DC back to the client).

Features: tgs_requests, distinct_services, weak_tickets, aes_offered, duration_s.
"""

from __future__ import annotations

import msgspec

from appliance.engine.detection import Count, Detection, Seconds
from appliance.engine.rules.bounded_state import BoundedMap, CappedSet, Window, window_for
from appliance.engine.rules.rule import Rule
from sensor.records import Event, KerberosEvent

NAME = "KERBEROASTING"
DEFAULT_SEVERITY = "HIGH"
VERSION = "1.0.0"
SCENARIO = "kerberoasting"  # the simulator scenario that exercises it
TGS_REQ, TGS_REP = 12, 13
AES = {17, 18, 19, 20}
WEAK = {1, 3, 23, 24}  # DES-CBC-CRC, DES-CBC-MD5, RC4-HMAC, RC4-HMAC-EXP


class Thresholds(msgspec.Struct, frozen=True, kw_only=True):
    min_weak_tickets: Count = 1
    min_services: Count = 15
    window_s: Seconds = 300.0
    reply_within_s: Seconds = 60.0  # how long a request waits for its reply


DEFAULTS = Thresholds()
FEATURES = ("tgs_requests", "distinct_services", "weak_tickets", "aes_offered", "duration_s")
MORE_IS_WORSE = ("weak_tickets", "distinct_services")


class _Tickets(Window):
    __slots__ = ("aes_offered", "last_request", "requests", "services", "weak", "weak_services")

    def __init__(self, ts: float):
        super().__init__(ts)
        self.requests = self.weak = 0
        self.services = CappedSet()
        self.weak_services = CappedSet()
        self.aes_offered = False
        self.last_request: tuple[float, frozenset[int], str] | None = None


class Detector(Rule):
    NAME, DEFAULT_SEVERITY, VERSION, FEATURES = NAME, DEFAULT_SEVERITY, VERSION, FEATURES

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._pairs: BoundedMap[tuple, _Tickets] = BoundedMap(self.site.max_tracked_keys)

    def on_event(self, event: Event) -> list[Detection]:
        if not isinstance(event, KerberosEvent):
            return []
        if event.msg_type == TGS_REQ:
            return self._request(event)
        if event.msg_type == TGS_REP:
            return self._reply(event)
        return []

    def _request(self, event: KerberosEvent) -> list[Detection]:
        key = (event.src_ip, event.dst_ip)
        tickets = window_for(self._pairs, key, event.ts, self.t.window_s, _Tickets)
        tickets.note(event.ts, event.flow_uid)
        tickets.requests += 1
        tickets.services.add(event.service)
        offered = frozenset(event.requested_etypes)
        tickets.aes_offered |= bool(offered & AES)
        tickets.last_request = (event.ts, offered, event.service)
        return self._check(key, tickets, event.ts)

    def _reply(self, event: KerberosEvent) -> list[Detection]:
        key = (event.dst_ip, event.src_ip)  # the DC answers the client
        tickets = self._pairs.get(key)
        if tickets is None or tickets.last_request is None or event.ticket_etype not in WEAK:
            return []
        asked_at, offered, service = tickets.last_request
        if event.ts - asked_at > self.t.reply_within_s or not offered & AES:
            return []
        tickets.note(event.ts, event.flow_uid)
        tickets.weak += 1
        tickets.weak_services.add(event.service or service)
        return self._check(key, tickets, event.ts)

    def _check(self, key: tuple, tickets: _Tickets, ts: float) -> list[Detection]:
        weak = tickets.weak >= self.t.min_weak_tickets
        burst = len(tickets.services) >= self.t.min_services
        if not (tickets.alerting or weak or burst):
            return []
        tickets.alerting = True
        return self.book.update(
            key,
            tickets.weak + len(tickets.services),
            ts,
            lambda incident: self._detection(incident, key, tickets),
        )

    def _detection(self, incident: str, key: tuple, tickets: _Tickets) -> Detection:
        client, dc = key
        return self.book.detection(
            incident,
            source_ip=client,
            dest_ip=dc,
            port=88,
            protocol="Kerberos",
            first_seen=tickets.start,
            last_seen=tickets.last,
            evidence={
                "tgs_requests": tickets.requests,
                "services_sample": tickets.services.sample(),
                "weak_tickets": tickets.weak,
                "weak_ticket_services": tickets.weak_services.sample(),
                "client_offered_aes": tickets.aes_offered,
            },
            flow_uids=tickets.flow_uids,
            features={
                "tgs_requests": tickets.requests,
                "distinct_services": len(tickets.services),
                "weak_tickets": tickets.weak,
                "aes_offered": float(tickets.aes_offered),
                "duration_s": tickets.last - tickets.start,
            },
        )

    def advance(self, now: float) -> list[Detection]:
        self._pairs.drop_stale(lambda tickets: tickets.expired(now, self.t.window_s))
        return super().advance(now)
