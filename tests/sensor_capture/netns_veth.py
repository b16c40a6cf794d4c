"""A veth pair with one end in a throwaway network namespace, a way to send frames from that end, and a reader.

Capture runs on the host end; frames are sent from the namespace end through an AF_PACKET socket opened
inside the namespace (setns), so nothing ever leaves the machine and no traffic touches real interfaces.
"""

from __future__ import annotations

import secrets
import socket
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sensor.capture.live import LiveCapture, Packet
from sensor.capture.netns import network_namespace


def run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True)


@dataclass
class VethPair:
    host_iface: str  # capture here
    namespace: str
    peer_iface: str  # inside `namespace`; frames sent here arrive on host_iface

    def sender(self) -> socket.socket:
        with network_namespace(self.namespace):
            sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        sock.bind((self.peer_iface, 0))
        return sock

    def send(self, frames: list[bytes]) -> None:
        with self.sender() as sock:
            for frame in frames:
                sock.send(frame)


@contextmanager
def veth_pair() -> Iterator[VethPair]:
    """A new veth pair (unique names) with one end in a new namespace; both are deleted on exit."""
    tag = secrets.token_hex(3)
    pair = VethPair(host_iface=f"vcap{tag}", namespace=f"capns-{tag}", peer_iface=f"vpeer{tag}")
    run("ip", "netns", "add", pair.namespace)
    try:
        run(
            "ip",
            "link",
            "add",
            pair.host_iface,
            "type",
            "veth",
            "peer",
            "name",
            pair.peer_iface,
            "netns",
            pair.namespace,
        )
        # No IPv6 on either end: otherwise router solicitations and DAD probes mix into what we capture.
        with open(f"/proc/sys/net/ipv6/conf/{pair.host_iface}/disable_ipv6", "w") as knob:
            knob.write("1")
        run(
            "ip",
            "netns",
            "exec",
            pair.namespace,
            "sysctl",
            "-qw",
            f"net.ipv6.conf.{pair.peer_iface}.disable_ipv6=1",
        )
        # Jumbo MTU so replayed captures with frames above 1514 bytes pass the veth unchanged.
        run("ip", "link", "set", pair.host_iface, "mtu", "9000", "up")
        run("ip", "-n", pair.namespace, "link", "set", pair.peer_iface, "mtu", "9000", "up")
        yield pair
    finally:
        subprocess.run(["ip", "link", "del", pair.host_iface], capture_output=True, check=False)
        subprocess.run(["ip", "netns", "del", pair.namespace], capture_output=True, check=False)


def collect(capture: LiveCapture, wanted: int | None = None, timeout: float = 3.0) -> list[Packet]:
    """Read until `wanted` packets arrived, or everything until `timeout` (a timer thread calls stop())."""
    timer = threading.Timer(timeout, capture.stop)
    timer.start()
    packets: list[Packet] = []
    try:
        for batch in capture.batches():
            packets.extend(batch)
            if wanted is not None and len(packets) >= wanted:
                break
    finally:
        timer.cancel()
    return packets
