"""Modbus/TCP (TCP 502): MBAP header and function code of every ADU in a segment."""

from __future__ import annotations

import struct

from sensor.protocols.extractor import PacketContext, PortBasedExtractor
from sensor.records import Event, ModbusEvent

MODBUS_PORT = 502
MAX_ADU_LENGTH = 254  # MBAP length field: unit id + PDU (253)
MAX_ADUS_PER_SEGMENT = 32
EXCEPTION_BIT = 0x80

_MBAP = struct.Struct("!HHHBB")  # transaction, protocol (0), length, unit id, function code


class ModbusExtractor(PortBasedExtractor):
    tcp_ports = frozenset((MODBUS_PORT,))

    def on_payload(self, ctx: PacketContext, payload: bytes) -> list[Event]:
        events: list[Event] = []
        is_response = ctx.src_port == MODBUS_PORT
        pos = 0
        while pos + _MBAP.size <= len(payload) and len(events) < MAX_ADUS_PER_SEGMENT:
            transaction, protocol, length, unit, function = _MBAP.unpack_from(payload, pos)
            if protocol != 0 or not 2 <= length <= MAX_ADU_LENGTH:
                break
            events.append(
                ctx.event(
                    ModbusEvent,
                    function_code=function & ~EXCEPTION_BIT,
                    unit_id=unit,
                    transaction_id=transaction,
                    is_response=is_response,
                    exception=is_response and bool(function & EXCEPTION_BIT),
                )
            )
            pos += 6 + length
        return events
