"""Open capture sockets inside a network namespace, then carry on in the original one.

A packet socket stays bound to the namespace it was created in, so the sensor can capture on a veth end
that lives in a test or demo namespace while it ships to the appliance over the host's loopback.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Iterator

CLONE_NEWNET = 0x40000000


def _setns(descriptor: int) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(descriptor, CLONE_NEWNET) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"cannot enter the network namespace: {os.strerror(error)}")


@contextlib.contextmanager
def network_namespace(name: str | None) -> Iterator[None]:
    """Inside the block, the calling thread is in `/run/netns/NAME` (as `ip netns exec` would put it).
    None means: stay where we are."""
    if name is None:
        yield
        return
    try:
        target = os.open(f"/run/netns/{name}", os.O_RDONLY)
    except FileNotFoundError:
        raise OSError(f"no network namespace named {name!r}") from None
    original = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        _setns(target)
        try:
            yield
        finally:
            _setns(original)
    finally:
        os.close(target)
        os.close(original)
