"""ROGUE_DHCP: DHCP answers from a server that is not the site's, and DHCP starvation floods.

- rogue server: an OFFER/ACK whose server (option 54, else the sender) is not in
  SiteConfig.known_dhcp_servers. With none configured, the servers that answered during the baseline
  period are the known ones; before that, the first server heard is taken as the site's and any other
  server answering is the alarm (the evidence names every server heard).
- flood (starvation): one client MAC sending flood_per_mac DISCOVER/REQUEST/INFORMs within flood_window_s (a
  client retries a few times a minute; Windows sends an INFORM now and then), or flood_distinct_macs
  different MACs doing so (random-MAC tools such as Yersinia/dhcpstarv). An INFORM flood takes no lease but
  loads the server the same way. ntopng and Suricata's dhcp-request-flood test describe the same pattern.

Features: messages, distinct_clients, distinct_servers, offers, is_starvation, duration_s.
"""

from __future__ import annotations

import msgspec

from appliance.engine.detection import Count, Detection, Seconds
from appliance.engine.rules.bounded_state import BoundedMap, CappedSet, Window, window_for
from appliance.engine.rules.rule import Rule
from sensor.records import DhcpEvent, Event

NAME = "ROGUE_DHCP"
DEFAULT_SEVERITY = "MEDIUM"
VERSION = "1.1.0"
SCENARIO = "rogue-dhcp"  # the simulator scenario that exercises it
DISCOVER, OFFER, REQUEST, ACK, INFORM = 1, 2, 3, 5, 8


class Thresholds(msgspec.Struct, frozen=True, kw_only=True):
    window_s: Seconds = 3600.0
    flood_per_mac: Count = 50
    flood_distinct_macs: Count = 200
    flood_window_s: Seconds = 60.0


DEFAULTS = Thresholds()
FEATURES = ("messages", "distinct_clients", "distinct_servers", "offers", "is_starvation", "duration_s")
MORE_IS_WORSE = ("messages",)


class _Dhcp(Window):
    __slots__ = ("clients", "messages", "offers", "servers", "source")

    def __init__(self, ts: float):
        super().__init__(ts)
        self.source = ""  # the address the first message came from: an incident keeps one source
        self.messages = self.offers = 0
        self.clients = CappedSet()
        self.servers = CappedSet()


class Detector(Rule):
    NAME, DEFAULT_SEVERITY, VERSION, FEATURES = NAME, DEFAULT_SEVERITY, VERSION, FEATURES

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._servers: BoundedMap[str, _Dhcp] = BoundedMap(self.site.max_tracked_keys)
        self._recent_servers: BoundedMap[str, _Dhcp] = BoundedMap(1)
        self._requests: BoundedMap[str, _Dhcp] = BoundedMap(self.site.max_tracked_keys)
        self._all_requests: BoundedMap[str, _Dhcp] = BoundedMap(1)
        self._first_server: str | None = None

    def on_event(self, event: Event) -> list[Detection]:
        if not isinstance(event, DhcpEvent):
            return []
        if event.msg_type in (OFFER, ACK):
            return self._answer(event)
        if event.msg_type in (DISCOVER, REQUEST, INFORM):
            return self._request(event)
        return []

    def _answer(self, event: DhcpEvent) -> list[Detection]:
        server = event.server_id or event.src_ip
        seen = window_for(self._recent_servers, "all", event.ts, self.t.window_s, _Dhcp)
        seen.servers.add(server)
        if self._first_server is None:
            self._first_server = server
        if not self._is_rogue(server, event.ts):
            return []
        answers = window_for(self._servers, server, event.ts, self.t.window_s, _Dhcp)
        answers.note(event.ts, event.flow_uid)
        answers.alerting = True
        answers.messages += 1
        answers.offers += event.msg_type == OFFER
        answers.clients.add(event.client_mac)
        for other in sorted(seen.servers.members):  # not set order: it changes with every process's str hash
            answers.servers.add(other)

        def build(incident: str) -> Detection:
            return self._detection(incident, server, event.src_mac, answers, starvation=False)

        return self.book.update(("server", server), answers.messages, event.ts, build)

    def _is_rogue(self, server: str, ts: float) -> bool:
        if self.site.dhcp_servers:
            return server not in self.site.dhcp_servers
        if not self.baseline.learning(ts):
            return not self.baseline.knows_dhcp_server(server)
        return server != self._first_server

    def _request(self, event: DhcpEvent) -> list[Detection]:
        mac = (event.client_mac or event.src_mac).lower()
        per_mac = window_for(self._requests, mac, event.ts, self.t.flood_window_s, _Dhcp)
        every = window_for(self._all_requests, "all", event.ts, self.t.flood_window_s, _Dhcp)
        for window in (per_mac, every):
            window.source = window.source or event.src_ip
            window.note(event.ts, event.flow_uid)
            window.messages += 1
            window.clients.add(mac)
        if per_mac.alerting or per_mac.messages >= self.t.flood_per_mac:
            per_mac.alerting = True
            return self._flood(("starvation", mac), mac, per_mac, event)
        if every.alerting or len(every.clients) >= self.t.flood_distinct_macs:
            every.alerting = True
            return self._flood(("starvation", "many-macs"), "", every, event)
        return []

    def _flood(self, subject: tuple, mac: str, window: _Dhcp, event: DhcpEvent) -> list[Detection]:
        def build(incident: str) -> Detection:
            return self._detection(incident, window.source, mac, window, starvation=True)

        return self.book.update(subject, window.messages, event.ts, build)

    def _detection(self, incident: str, source: str, mac: str, window: _Dhcp, starvation: bool) -> Detection:
        return self.book.detection(
            incident,
            source_ip=source,
            port=67,
            protocol="DHCP",
            first_seen=window.start,
            last_seen=window.last,
            evidence={
                "trigger": "starvation" if starvation else "unknown_server",
                "mac": mac,
                "messages": window.messages,
                "clients_sample": window.clients.sample(),
                "servers_seen": window.servers.sample(),
            },
            flow_uids=window.flow_uids,
            features={
                "messages": window.messages,
                "distinct_clients": len(window.clients),
                "distinct_servers": len(window.servers),
                "offers": window.offers,
                "is_starvation": float(starvation),
                "duration_s": window.last - window.start,
            },
        )

    def advance(self, now: float) -> list[Detection]:
        for table in (self._servers, self._recent_servers):
            table.drop_stale(lambda window: window.expired(now, self.t.window_s))
        for table in (self._requests, self._all_requests):
            table.drop_stale(lambda window: window.expired(now, self.t.flood_window_s))
        return super().advance(now)

    def incident_idle_s(self) -> float:
        return self.t.window_s
