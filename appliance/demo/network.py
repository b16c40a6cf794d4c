"""The demo's wire: a veth pair inside a network namespace of its own.

The simulator's frames are replayed into one end and the sensor captures the other. Both ends live in a
fresh namespace (no routes, no forwarding), so the replayed office traffic can never reach a real network.
"""

from __future__ import annotations

import os
import shutil
import subprocess

REPLAY_END = "nsx-tap0"
CAPTURE_END = "nsx-tap1"
JUMBO_MTU = 9000


class DemoNetworkError(RuntimeError):
    pass


def can_create_namespaces() -> bool:
    return os.geteuid() == 0 and shutil.which("ip") is not None and os.path.isdir("/proc/self/ns")


def _ip(*arguments: str) -> None:
    result = subprocess.run(["ip", *arguments], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise DemoNetworkError(f"ip {' '.join(arguments)}: {result.stderr.strip()}")


class DemoNetwork:
    def __init__(self, name: str) -> None:
        self.namespace = name

    def __enter__(self) -> DemoNetwork:
        self.remove()  # a namespace left by a demo that was killed
        _ip("netns", "add", self.namespace)
        try:
            _ip("-n", self.namespace, "link", "add", REPLAY_END, "type", "veth", "peer", "name", CAPTURE_END)
            for interface in (REPLAY_END, CAPTURE_END):
                # Real captures hold frames above 1500 bytes (offloaded segments, jumbo frames): carry them.
                _ip("-n", self.namespace, "link", "set", interface, "mtu", str(JUMBO_MTU))
            for interface in ("lo", REPLAY_END, CAPTURE_END):
                _ip("-n", self.namespace, "link", "set", interface, "up")
        except DemoNetworkError:
            self.remove()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.remove()

    def remove(self) -> None:
        subprocess.run(["ip", "netns", "delete", self.namespace], capture_output=True, check=False)
