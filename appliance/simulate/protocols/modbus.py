"""Modbus/TCP: the MBAP header and the PDUs of the common read and write function codes."""

from __future__ import annotations

import struct

READ_COILS, READ_HOLDING_REGISTERS, READ_INPUT_REGISTERS = 1, 3, 4
WRITE_SINGLE_COIL, WRITE_SINGLE_REGISTER, WRITE_MULTIPLE_COILS, WRITE_MULTIPLE_REGISTERS = 5, 6, 15, 16
PORT = 502


def adu(transaction_id: int, unit_id: int, pdu: bytes) -> bytes:
    """MBAP header (transaction, protocol 0, length of unit id + PDU, unit id) then the PDU."""
    return struct.pack("!HHHB", transaction_id & 0xFFFF, 0, len(pdu) + 1, unit_id) + pdu


def read_request(function: int, address: int, count: int) -> bytes:
    return struct.pack("!BHH", function, address, count)


def read_response(function: int, values: list[int]) -> bytes:
    if function == READ_COILS:
        packed = bytearray((len(values) + 7) // 8)
        for i, value in enumerate(values):
            packed[i // 8] |= (value & 1) << (i % 8)
        return bytes((function, len(packed))) + bytes(packed)
    return bytes((function, 2 * len(values))) + struct.pack(f"!{len(values)}H", *values)


def write_request(function: int, address: int, values: list[int]) -> bytes:
    if function == WRITE_SINGLE_COIL:
        return struct.pack("!BHH", function, address, 0xFF00 if values[0] else 0x0000)
    if function == WRITE_SINGLE_REGISTER:
        return struct.pack("!BHH", function, address, values[0])
    if function == WRITE_MULTIPLE_COILS:
        packed = bytearray((len(values) + 7) // 8)
        for i, value in enumerate(values):
            packed[i // 8] |= (value & 1) << (i % 8)
        return struct.pack("!BHHB", function, address, len(values), len(packed)) + bytes(packed)
    if function == WRITE_MULTIPLE_REGISTERS:
        return struct.pack("!BHHB", function, address, len(values), 2 * len(values)) + struct.pack(
            f"!{len(values)}H", *values
        )
    raise ValueError(f"not a Modbus write function code: {function}")


def write_response(request_pdu: bytes) -> bytes:
    """Single writes echo the request; multiple writes echo address and quantity."""
    return request_pdu if request_pdu[0] in (WRITE_SINGLE_COIL, WRITE_SINGLE_REGISTER) else request_pdu[:5]
