"""Protocol metadata for the sensor: turns payloads of interesting flows into Events.

The decoder asks `interested()` once per new flow and then hands every payload packet of an
interested flow to `on_payload()`. Flows are routed to protocol extractors by well-known port; TCP flows
on other ports are routed by sniffing their first payload (TLS ClientHello, HTTP request line, SSH
banner), so the per-packet cost for uninteresting TCP flows is one dictionary lookup.
"""

from __future__ import annotations

from sensor.protocols.bacnet import BacnetExtractor
from sensor.protocols.cleartext_logins import CleartextLoginExtractor
from sensor.protocols.dhcp import DhcpExtractor
from sensor.protocols.dnp3 import Dnp3Extractor
from sensor.protocols.dns import DnsExtractor
from sensor.protocols.extractor import PacketContext, PortBasedExtractor, ProtocolExtractor
from sensor.protocols.flow_state import BoundedFlowState
from sensor.protocols.http import HttpExtractor
from sensor.protocols.kerberos import KerberosExtractor
from sensor.protocols.modbus import ModbusExtractor
from sensor.protocols.ssh import SshExtractor
from sensor.protocols.tls import TlsExtractor
from sensor.records import Event

__all__ = ["MetadataExtractor", "PacketContext", "ProtocolExtractor"]

MAX_SNIFFED_FLOWS = 65536


class MetadataExtractor:
    """All protocol extractors behind the decoder's two calls.

    `errors` counts payloads on which an extractor raised; they yield no events. It should stay 0 —
    the parsers are bounds-checked — and is reported so that a parser bug shows up in the stats.
    """

    def __init__(self, max_sniffed_flows: int = MAX_SNIFFED_FLOWS) -> None:
        tls, http, ssh = TlsExtractor(), HttpExtractor(), SshExtractor()
        extractors: tuple[PortBasedExtractor, ...] = (
            DnsExtractor(),
            tls,
            http,
            ssh,
            CleartextLoginExtractor(),
            KerberosExtractor(),
            DhcpExtractor(),
            ModbusExtractor(),
            Dnp3Extractor(),
            BacnetExtractor(),
        )
        self._sniffers = (tls, http, ssh)
        self._by_port: dict[tuple[str, int], tuple[ProtocolExtractor, ...]] = {}
        for extractor in extractors:
            for proto, ports in (("TCP", extractor.tcp_ports), ("UDP", extractor.udp_ports)):
                for port in ports:
                    key = (proto, port)
                    self._by_port[key] = (*self._by_port.get(key, ()), extractor)
        self._sniffed: BoundedFlowState[tuple[ProtocolExtractor, ...]] = BoundedFlowState(max_sniffed_flows)
        self.errors = 0

    def interested(self, proto: str, src_port: int, dst_port: int) -> bool:
        return proto == "TCP" or (proto, dst_port) in self._by_port or (proto, src_port) in self._by_port

    def on_payload(self, ctx: PacketContext, payload: bytes) -> list[Event]:
        handlers = self._handlers(ctx, payload)
        if not handlers:
            return []
        try:
            if len(handlers) == 1:
                return handlers[0].on_payload(ctx, payload)
            events: list[Event] = []
            for handler in handlers:
                events += handler.on_payload(ctx, payload)
            return events
        except Exception:
            self.errors += 1
            return []

    def _handlers(self, ctx: PacketContext, payload: bytes) -> tuple[ProtocolExtractor, ...]:
        by_port = self._by_port
        handlers = by_port.get((ctx.proto, ctx.dst_port)) or by_port.get((ctx.proto, ctx.src_port))
        if handlers is not None or ctx.proto != "TCP":
            return handlers or ()
        handlers = self._sniffed.get(ctx.flow_uid)
        if handlers is None:
            # the first payload of the flow decides, whichever side sent it
            handlers = tuple(sniffer for sniffer in self._sniffers if sniffer.sniff(payload))
            self._sniffed.put(ctx.flow_uid, handlers)
        return handlers
