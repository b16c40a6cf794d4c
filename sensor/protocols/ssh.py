"""SSH identification banners ("SSH-2.0-OpenSSH_9.6") from either side, on any TCP port."""

from __future__ import annotations

from sensor.protocols.extractor import PacketContext, PortBasedExtractor
from sensor.protocols.text import printable
from sensor.records import Event, SshBannerEvent

MAX_BANNER = 255  # RFC 4253 4.2 limit, CR LF included


class SshExtractor(PortBasedExtractor):
    tcp_ports = frozenset((22, 2222))

    @staticmethod
    def sniff(payload: bytes) -> bool:
        return payload.startswith(b"SSH-")

    def on_payload(self, ctx: PacketContext, payload: bytes) -> list[Event]:
        if not payload.startswith(b"SSH-"):
            return []
        line_end = payload.find(b"\n", 0, MAX_BANNER)
        banner = payload[: line_end if line_end >= 0 else MAX_BANNER].rstrip(b"\r")
        return [ctx.event(SshBannerEvent, banner=printable(banner), from_server=self._from_server(ctx))]

    def _from_server(self, ctx: PacketContext) -> bool:
        if ctx.src_port in self.tcp_ports:
            return True
        if ctx.dst_port in self.tcp_ports:
            return False
        return ctx.src_port < ctx.dst_port  # off the usual ports, the client is the one on the ephemeral port
