"""PostgreSQL frontend/backend protocol v3: simple queries and their result messages."""

from __future__ import annotations

import struct

PORT = 5432


def _message(kind: bytes, body: bytes) -> bytes:
    return kind + struct.pack("!I", len(body) + 4) + body


def query(sql: str) -> bytes:
    return _message(b"Q", sql.encode() + b"\x00")


def result(columns: list[str], rows: list[list[bytes]]) -> bytes:
    """RowDescription, DataRow per row, CommandComplete, ReadyForQuery (idle)."""
    description = struct.pack("!H", len(columns)) + b"".join(
        name.encode() + b"\x00" + struct.pack("!IHIhih", 16384, i + 1, 25, -1, -1, 0) for i, name in enumerate(columns)
    )
    data_rows = b"".join(
        _message(b"D", struct.pack("!H", len(row)) + b"".join(struct.pack("!i", len(v)) + v for v in row))
        for row in rows
    )
    return (
        _message(b"T", description)
        + data_rows
        + _message(b"C", f"SELECT {len(rows)}".encode() + b"\x00")
        + _message(b"Z", b"I")
    )


def terminate() -> bytes:
    return _message(b"X", b"")


def startup(user: str, database: str, application: str = "psql") -> bytes:
    """StartupMessage: no type byte, protocol 3.0, then key/value pairs."""
    pairs = b"".join(key.encode() + b"\x00" + value.encode() + b"\x00"
                     for key, value in (("user", user), ("database", database), ("application_name", application)))
    body = struct.pack("!I", 196608) + pairs + b"\x00"
    return struct.pack("!I", len(body) + 4) + body


def sasl_offer() -> bytes:
    """AuthenticationSASL: the server asks for SCRAM-SHA-256 (PostgreSQL 14+ default password_encryption)."""
    return _message(b"R", struct.pack("!I", 10) + b"SCRAM-SHA-256\x00\x00")


def sasl_first(client_nonce: str) -> bytes:
    first = f"n,,n=,r={client_nonce}".encode()
    return _message(b"p", b"SCRAM-SHA-256\x00" + struct.pack("!I", len(first)) + first)


def sasl_challenge(client_nonce: str, server_nonce: str, salt: str) -> bytes:
    return _message(b"R", struct.pack("!I", 11) + f"r={client_nonce}{server_nonce},s={salt},i=4096".encode())


def sasl_final(client_nonce: str, server_nonce: str, proof: str) -> bytes:
    return _message(b"p", f"c=biws,r={client_nonce}{server_nonce},p={proof}".encode())


def authentication_failed(user: str) -> bytes:
    """ErrorResponse FATAL 28P01, as the backend sends it before closing the connection."""
    fields = (("S", "FATAL"), ("V", "FATAL"), ("C", "28P01"),
              ("M", f'password authentication failed for user "{user}"'), ("F", "auth.c"), ("L", "323"),
              ("R", "auth_failed"))
    return _message(b"E", b"".join(code.encode() + value.encode() + b"\x00" for code, value in fields) + b"\x00")
