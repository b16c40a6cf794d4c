"""Protocol metadata for the sensor: turns payloads of watched flows into Events, names each flow's service and
counts its logins.

The flow table asks `interested()` once per new flow (every TCP flow; UDP flows on the ports of the UDP
protocols here) and then hands every payload packet of a watched flow to `on_payload()`. The first payloads
of both sides go through service identification (sensor.protocols.services) until it names the service or
gives up. Until then a flow has the extractors of its well-known ports; once its service is named, those of
its service instead, so an FTP server on 2121 gets the FTP login extractor just as one on 21 does, and TLS on
port 80 the TLS extractor rather than HTTP's. Once none of its extractors needs more of a flow, the flow is
released: the table stops handing its packets over, and the rest of it costs no Python work. A segment that
brings no new byte (a retransmission, the mirror's second copy) is dropped before any parser sees it; the flow
table already drops those that end where the last segment of their side did.

After each batch, `take_findings()` hands the pipeline what was learnt (services, login counts) and which
flows were released.
"""

from __future__ import annotations

from collections.abc import Callable

from sensor.protocols.auth_ledger import AuthLedger
from sensor.protocols.bacnet import BacnetExtractor
from sensor.protocols.cleartext_logins import CleartextLoginExtractor
from sensor.protocols.dhcp import DhcpExtractor
from sensor.protocols.dnp3 import Dnp3Extractor
from sensor.protocols.dns import DnsExtractor
from sensor.protocols.extractor import Findings, Learnt, PacketContext, PortBasedExtractor, ProtocolExtractor
from sensor.protocols.flow_state import BoundedFlowState
from sensor.protocols.http import HttpExtractor
from sensor.protocols.kerberos import KerberosExtractor
from sensor.protocols.ldap import LdapLogins
from sensor.protocols.modbus import ModbusExtractor
from sensor.protocols.mysql import MysqlLogins
from sensor.protocols.postgresql import PostgresqlLogins
from sensor.protocols.redis import RedisLogins
from sensor.protocols.services import UDP_PORTS, Lead, Verdict, identify
from sensor.protocols.smb import SmbLogins
from sensor.protocols.ssh import SshExtractor
from sensor.protocols.tls import TlsExtractor
from sensor.protocols.vnc import VncLogins
from sensor.records import Event

__all__ = ["MetadataExtractor", "PacketContext", "ProtocolExtractor"]

MAX_WATCHED_FLOWS = 65536
# Service identification looks at the first payloads of each side (a NetBIOS session request comes before the
# SMB messages, a PROXY header before the HTTP request) and gives up after this many from both sides, or twice
# as many from one side when the other stays silent.
IDENTIFY_TCP_PAYLOADS = 2
IDENTIFY_UDP_PAYLOADS = 1
# A side's first bytes are looked at together while they are this short: a request line or a NetBIOS header
# split over tiny segments is still recognised.
IDENTIFY_PREFIX = 256
# Payloads still handed to a flow's extractors after all of them are done with it, when it had logins: a login
# that succeeded may be followed by another in the same exchange (Redis AUTH again, MySQL COM_CHANGE_USER, an
# LDAP rebind).
GRACE_PAYLOADS = 16
SEQUENCE_MASK, SEQUENCE_HALF = 0xFFFFFFFF, 0x80000000


class _View:
    """What the metadata extractor knows about one watched flow."""

    __slots__ = ("client_is_orig", "extractors", "grace", "identifying", "lead", "lead_from_orig", "looked_orig",
                 "looked_resp", "prefix_orig", "prefix_resp", "progress", "released", "seen_orig", "seen_resp",
                 "service")

    def __init__(self, extractors: tuple[ProtocolExtractor, ...]) -> None:
        self.service = ""
        self.client_is_orig = True
        self.extractors = extractors
        self.progress: tuple[Callable[[str], bool], ...] | None = _progress_of(extractors)
        self.identifying = True
        self.looked_orig = self.looked_resp = 0
        self.prefix_orig = self.prefix_resp = b""  # each side's first bytes while identifying
        self.lead: Lead | None = None
        self.lead_from_orig = True
        self.released = False
        self.grace = GRACE_PAYLOADS
        self.seen_orig = self.seen_resp = -1  # TCP: the sequence number after each side's data so far

    def retransmitted(self, ctx: PacketContext, size: int) -> bool:
        """Whether a TCP segment brings no byte its side has not sent already (a retransmission, or the mirror
        port's second copy): parsers must not count the same login twice."""
        if ctx.seq < 0:
            return False
        end = (ctx.seq + size) & SEQUENCE_MASK
        seen = self.seen_orig if ctx.from_orig else self.seen_resp
        if seen >= 0 and not 0 < (end - seen) & SEQUENCE_MASK < SEQUENCE_HALF:
            return True
        if ctx.from_orig:
            self.seen_orig = end
        else:
            self.seen_resp = end
        return False


def _progress_of(extractors: tuple[ProtocolExtractor, ...]) -> tuple[Callable[[str], bool], ...] | None:
    """The extractors' `follows(flow_uid)` when every one of them has it (None: some follow a flow to its end)."""
    follows = tuple(getattr(extractor, "follows", None) for extractor in extractors)
    return None if None in follows else follows  # type: ignore[return-value]


class MetadataExtractor:
    """All protocol extractors behind the decoder's two calls.

    `errors` counts payloads on which an extractor raised; they yield no events. It should stay 0 —
    the parsers are bounds-checked — and is reported so that a parser bug shows up in the stats.
    """

    def __init__(self, max_watched_flows: int = MAX_WATCHED_FLOWS) -> None:
        self.ledger = AuthLedger()
        ledger = self.ledger
        tls, http, ssh, logins = TlsExtractor(), HttpExtractor(ledger), SshExtractor(ledger), CleartextLoginExtractor(
            ledger)
        dns, kerberos, dhcp, modbus, dnp3, bacnet = (DnsExtractor(), KerberosExtractor(), DhcpExtractor(),
                                                     ModbusExtractor(), Dnp3Extractor(), BacnetExtractor())
        self._by_service: dict[str, tuple[ProtocolExtractor, ...]] = {
            "tls": (tls,), "http": (http,), "ssh": (ssh,), "ftp": (logins,), "telnet": (logins,), "pop3": (logins,),
            "imap": (logins,), "smtp": (logins,), "dns": (dns,), "kerberos": (kerberos,), "dhcp": (dhcp,),
            "modbus": (modbus,), "dnp3": (dnp3,), "bacnet": (bacnet,), "mysql": (MysqlLogins(ledger),),
            "postgresql": (PostgresqlLogins(ledger),), "smb": (SmbLogins(ledger),), "vnc": (VncLogins(ledger),),
            "ldap": (LdapLogins(ledger),), "redis": (RedisLogins(ledger),),
        }
        self._by_port: dict[tuple[str, int], tuple[ProtocolExtractor, ...]] = {}
        by_ports: tuple[PortBasedExtractor, ...] = (dns, tls, http, ssh, logins, kerberos, dhcp, modbus, dnp3, bacnet)
        for extractor in by_ports:
            for proto, ports in (("TCP", extractor.tcp_ports), ("UDP", extractor.udp_ports)):
                for port in ports:
                    key = (proto, port)
                    self._by_port[key] = (*self._by_port.get(key, ()), extractor)
        self._udp_ports = frozenset(UDP_PORTS) | {port for proto, port in self._by_port if proto == "UDP"}
        self._views: BoundedFlowState[_View] = BoundedFlowState(max_watched_flows)
        self._learnt: dict[str, str] = {}  # flow uid -> service identified since the last take_findings()
        self._released: list[str] = []
        self.errors = 0

    def interested(self, proto: str, src_port: int, dst_port: int) -> bool:
        return proto == "TCP" or (proto == "UDP" and (dst_port in self._udp_ports or src_port in self._udp_ports))

    def on_payload(self, ctx: PacketContext, payload: bytes) -> list[Event]:
        view = self._views.get(ctx.flow_uid)
        if view is None:
            by_port = self._by_port
            view = _View(by_port.get((ctx.proto, ctx.dst_port)) or by_port.get((ctx.proto, ctx.src_port)) or ())
            self._views.put(ctx.flow_uid, view)
        elif view.released:
            return []
        if view.retransmitted(ctx, len(payload)):
            return []
        if view.identifying:
            self._identify(view, ctx, payload)
        events: list[Event] = []
        if view.extractors:
            if view.service:
                ctx = ctx._replace(service=view.service, from_client=ctx.from_orig == view.client_is_orig)
            try:
                for extractor in view.extractors:
                    events += extractor.on_payload(ctx, payload)
            except Exception:
                self.errors += 1
        if not view.identifying and view.progress is not None and not any(
                follows(ctx.flow_uid) for follows in view.progress):
            if view.grace == GRACE_PAYLOADS and not any(self.ledger.counts(ctx.flow_uid)):
                view.grace = 0  # no login in the flow: nothing to wait for
            view.grace -= 1
            if view.grace < 0:
                view.released = True
                self._released.append(ctx.flow_uid)
        return events

    def _identify(self, view: _View, ctx: PacketContext, payload: bytes) -> None:
        if ctx.from_orig:
            first = view.looked_resp == 0  # this side spoke first
            view.looked_orig += 1
            data = view.prefix_orig + payload if view.prefix_orig else payload
            view.prefix_orig = data if len(data) < IDENTIFY_PREFIX and ctx.proto == "TCP" else b""
        else:
            first = view.looked_orig == 0
            view.looked_resp += 1
            data = view.prefix_resp + payload if view.prefix_resp else payload
            view.prefix_resp = data if len(data) < IDENTIFY_PREFIX and ctx.proto == "TCP" else b""
        if view.lead is not None and ctx.from_orig != view.lead_from_orig:
            found = view.lead.confirm(data)
            view.lead = None
        else:
            found = identify(ctx.proto, data, first, ctx.src_port, ctx.dst_port)
            if isinstance(found, Lead):
                view.lead, view.lead_from_orig = found, ctx.from_orig
                found = None
        if isinstance(found, Verdict):
            view.identifying = False
            view.lead = None
            view.prefix_orig = view.prefix_resp = b""
            view.service = found.service
            if found.from_client is not None:
                view.client_is_orig = ctx.from_orig == found.from_client
            else:  # the content does not say: the client is the side on the higher (ephemeral) port
                orig_port, resp_port = (ctx.src_port, ctx.dst_port) if ctx.from_orig else (ctx.dst_port, ctx.src_port)
                view.client_is_orig = orig_port >= resp_port
            # the service's extractors; those of the ports are for another protocol, if any
            view.extractors = self._by_service.get(found.service, ())
            view.progress = _progress_of(view.extractors)
            self._learnt[ctx.flow_uid] = found.service
            return
        enough = IDENTIFY_TCP_PAYLOADS if ctx.proto == "TCP" else IDENTIFY_UDP_PAYLOADS
        fewer, more = sorted((view.looked_orig, view.looked_resp))
        if fewer >= enough or more >= 2 * enough:
            view.identifying = False
            view.lead = None
            view.prefix_orig = view.prefix_resp = b""

    def flow_continued(self, old_uid: str, new_uid: str) -> None:
        """A flow cut at the active timeout goes on as `new_uid`: its service and extractors go with it (each
        extractor's parsing state starts afresh, at a message boundary in practice)."""
        view = self._views.pop(old_uid)
        if view is None:
            return
        self._views.put(new_uid, view)
        if view.service:  # the flow table carries it over too, unless it was learnt in the same batch
            self._learnt[new_uid] = view.service
        if view.released:
            self._released.append(new_uid)

    def take_findings(self) -> Findings:
        learnt = {uid: Learnt(service=service) for uid, service in self._learnt.items()}
        for uid, counts in self.ledger.take().items():
            learnt[uid] = Learnt(learnt[uid].service if uid in learnt else "", counts)
        released, self._released, self._learnt = self._released, [], {}
        return Findings(learnt, released)
