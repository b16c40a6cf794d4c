"""BACnet/IP (ASHRAE 135 Annex J): BVLC + NPDU + APDU for ReadProperty and WriteProperty."""

from __future__ import annotations

import struct

PORT = 47808
READ_PROPERTY, WRITE_PROPERTY = 12, 15
PRESENT_VALUE = 85
ANALOG_VALUE, BINARY_OUTPUT, ANALOG_INPUT = 2, 4, 0


def _bvlc(npdu: bytes) -> bytes:
    return struct.pack("!BBH", 0x81, 0x0A, 4 + len(npdu)) + npdu  # original unicast NPDU


def _object_id(object_type: int, instance: int) -> bytes:
    return b"\x0c" + struct.pack("!I", (object_type << 22) | instance)  # context tag 0, length 4


def _property(property_id: int) -> bytes:
    return b"\x19" + bytes((property_id,))  # context tag 1, length 1


def confirmed_request(invoke_id: int, service: int, parameters: bytes) -> bytes:
    npdu = b"\x01\x04"  # version 1, expecting reply
    apdu = bytes((0x00, 0x05, invoke_id & 0xFF, service)) + parameters  # max 1476-byte APDU accepted
    return _bvlc(npdu + apdu)


def read_property(invoke_id: int, object_type: int, instance: int) -> bytes:
    return confirmed_request(invoke_id, READ_PROPERTY, _object_id(object_type, instance) + _property(PRESENT_VALUE))


def read_property_ack(invoke_id: int, object_type: int, instance: int, value: float) -> bytes:
    parameters = (
        _object_id(object_type, instance) + _property(PRESENT_VALUE) + b"\x3e\x44" + struct.pack("!f", value) + b"\x3f"
    )
    return _bvlc(b"\x01\x00" + bytes((0x30, invoke_id & 0xFF, READ_PROPERTY)) + parameters)


def write_property(invoke_id: int, object_type: int, instance: int, value: float, priority: int = 8) -> bytes:
    parameters = (
        _object_id(object_type, instance)
        + _property(PRESENT_VALUE)
        + b"\x3e\x44"
        + struct.pack("!f", value)
        + b"\x3f"
        + b"\x49"
        + bytes((priority,))
    )
    return confirmed_request(invoke_id, WRITE_PROPERTY, parameters)


def simple_ack(invoke_id: int, service: int) -> bytes:
    return _bvlc(b"\x01\x00" + bytes((0x20, invoke_id & 0xFF, service)))
