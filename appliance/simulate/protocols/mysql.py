"""The MySQL/MariaDB client/server protocol's connection phase: the server's Handshake V10, the client's
HandshakeResponse41 with a mysql_native_password scramble, and the server's OK or ERR packet."""

from __future__ import annotations

import random
import struct

PORT = 3306
ACCESS_DENIED = 1045
_CLIENT_CAPABILITIES = 0x000FA68D  # long password, protocol 41, secure connection, plugin auth, ...


def _packet(sequence: int, payload: bytes) -> bytes:
    return len(payload).to_bytes(3, "little") + bytes((sequence,)) + payload


def server_greeting(rng: random.Random, version: str, connection_id: int) -> bytes:
    scramble = bytes(rng.randint(33, 126) for _ in range(20))
    payload = (
        b"\x0a" + version.encode() + b"\x00" + struct.pack("<I", connection_id) + scramble[:8] + b"\x00"
        + struct.pack("<HBHHB", 0xF7FE, 0x2D, 0x0002, 0x81BF, 21) + bytes(6) + struct.pack("<I", 0)
        + scramble[8:] + b"\x00" + b"mysql_native_password\x00"
    )
    return _packet(0, payload)


def login_request(rng: random.Random, user: str, database: str | None = None) -> bytes:
    flags = _CLIENT_CAPABILITIES | (0x8 if database else 0)
    payload = (
        struct.pack("<IIB", flags, 16_777_216, 45) + bytes(23) + user.encode() + b"\x00"
        + b"\x14" + rng.randbytes(20) + ((database.encode() + b"\x00") if database else b"")
        + b"mysql_native_password\x00"
    )
    return _packet(1, payload)


def access_denied(user: str, client_ip: str) -> bytes:
    message = f"Access denied for user '{user}'@'{client_ip}' (using password: YES)".encode()
    return _packet(2, b"\xff" + struct.pack("<H", ACCESS_DENIED) + b"#28000" + message)


def ok() -> bytes:
    return _packet(2, b"\x00\x00\x00\x02\x00\x00\x00")
