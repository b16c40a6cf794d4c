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
