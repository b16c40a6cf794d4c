"""What every protocol extractor is handed and what it promises the decoder."""

from __future__ import annotations

from typing import NamedTuple, Protocol, TypeVar

from sensor.records import Event, Flow

E = TypeVar("E", bound=Event)


class PacketContext(NamedTuple):
    """Where a payload came from; the decoder fills it once per packet."""

    ts: float
    src_ip: str
    dst_ip: str
    src_port: int
    dst_port: int
    proto: str  # "TCP" / "UDP"
    src_mac: str
    flow_uid: str
    from_orig: bool = True  # sent by the flow's originator (the side of its first packet)
    seq: int = -1  # TCP sequence number of the payload's first byte; -1 for other protocols
    # Once the flow's service is identified (sensor.protocols.services): which, and whether this packet comes
    # from its client. Extractors chosen by port see "" and None here and go by the port.
    service: str = ""
    from_client: bool | None = None

    def event(self, kind: type[E], **fields: object) -> E:
        """An event of `kind` stamped with this packet's addresses and flow."""
        return kind(
            ts=self.ts,
            src_ip=self.src_ip,
            dst_ip=self.dst_ip,
            src_port=self.src_port,
            dst_port=self.dst_port,
            proto=self.proto,
            src_mac=self.src_mac,
            flow_uid=self.flow_uid,
            **fields,
        )


class ProtocolExtractor(Protocol):
    def interested(self, proto: str, src_port: int, dst_port: int) -> bool: ...

    def on_payload(self, ctx: PacketContext, payload: bytes) -> list[Event]: ...


class PortBasedExtractor:
    """An extractor that recognises its flows by well-known ports (either side)."""

    tcp_ports: frozenset[int] = frozenset()
    udp_ports: frozenset[int] = frozenset()

    def interested(self, proto: str, src_port: int, dst_port: int) -> bool:
        ports = self.tcp_ports if proto == "TCP" else self.udp_ports if proto == "UDP" else ()
        return src_port in ports or dst_port in ports


class Learnt(NamedTuple):
    """What the extractors learnt about one flow since the last Findings: its service and logins to add."""

    service: str = ""
    auth: tuple[int, int, int] = (0, 0, 0)  # attempts, failures, successes

    def apply(self, flow: Flow) -> None:
        """Onto a flow record that is already built (the flow ended before its last payloads were looked at)."""
        if self.service and not flow.service:
            flow.service = self.service
        flow.auth_attempts += self.auth[0]
        flow.auth_failures += self.auth[1]
        flow.auth_successes += self.auth[2]


class Findings(NamedTuple):
    learnt: dict[str, Learnt]  # by flow uid
    released: list[str]  # flows whose packets the extractors need no more
