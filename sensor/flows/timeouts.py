"""When a flow ends. Defaults follow Zeek (tcp_inactivity_timeout 5 min, udp/icmp 1 min, tcp_close_delay 5 s)
with a 30-minute active timeout (as NetFlow exporters use) so a long session still reports in slices."""

from __future__ import annotations

import msgspec
import numpy as np

from sensor.decode import layers as L


class FlowTimeouts(msgspec.Struct, frozen=True, kw_only=True):
    tcp_idle: float = 300.0  # no packet for this long: the flow ends ("idle")
    udp_idle: float = 60.0
    icmp_idle: float = 60.0
    other_idle: float = 60.0
    close_delay: float = 5.0  # after RST, or FIN from both sides: stragglers within this gap still count
    active: float = 1800.0  # a flow older than this is cut and continues as a new flow ("active")

    def idle_by_proto(self) -> np.ndarray:
        """Idle timeout indexed by IP protocol number."""
        table = np.full(256, self.other_idle, dtype=np.float64)
        table[L.PROTO_TCP] = self.tcp_idle
        table[L.PROTO_UDP] = self.udp_idle
        table[L.PROTO_ICMP] = table[L.PROTO_ICMPV6] = self.icmp_idle
        return table


DEFAULT_TIMEOUTS = FlowTimeouts()
