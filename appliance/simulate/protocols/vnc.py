"""RFB 3.8 (RFC 6143) up to the security result: version strings, the security types, the VNC
authentication challenge and response, and the server's verdict."""

from __future__ import annotations

import random
import struct

PORT = 5900
VERSION = b"RFB 003.008\n"
SECURITY_VNC = 2


def security_types() -> bytes:
    return bytes((1, SECURITY_VNC))


def challenge(rng: random.Random) -> bytes:
    return rng.randbytes(16)


def failed(reason: bytes = b"Authentication failed") -> bytes:
    return struct.pack("!II", 1, len(reason)) + reason


def succeeded() -> bytes:
    return struct.pack("!I", 0)
