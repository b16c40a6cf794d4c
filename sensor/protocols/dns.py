"""DNS (UDP and TCP 53, mDNS 5353): query name and type, response code, answers."""

from __future__ import annotations

import socket
import struct

from sensor.protocols.extractor import PacketContext, PortBasedExtractor
from sensor.protocols.reassembly import SegmentedMessages
from sensor.protocols.text import printable
from sensor.records import DnsEvent, Event

MAX_POINTER_JUMPS = 16  # a longer chain of compression pointers is a loop or an attack
MAX_NAME_OCTETS = 255
MAX_ANSWERS = 16
MAX_ANSWER_CHARS = 255

TYPE_A, TYPE_NS, TYPE_CNAME, TYPE_PTR, TYPE_TXT, TYPE_AAAA = 1, 2, 5, 12, 16, 28
NAME_TYPES = frozenset((TYPE_NS, TYPE_CNAME, TYPE_PTR))

_HEADER = struct.Struct("!6H")
_RECORD = struct.Struct("!HHIH")


def read_name(msg: bytes, pos: int) -> tuple[str, int] | None:
    """The (possibly compressed) name at `pos` and the offset just after it in the record."""
    labels: list[bytes] = []
    octets = 0
    jumps = 0
    resume = -1  # where the record continues once the first pointer was followed
    size = len(msg)
    while True:
        if pos >= size:
            return None
        length = msg[pos]
        if length == 0:
            pos += 1
            break
        if length >= 0xC0:
            if pos + 1 >= size or jumps == MAX_POINTER_JUMPS:
                return None
            if resume < 0:
                resume = pos + 2
            jumps += 1
            pos = ((length & 0x3F) << 8) | msg[pos + 1]
            continue
        if length > 63:  # 0x40/0x80 label types are obsolete and never legitimate
            return None
        octets += length + 1
        if octets > MAX_NAME_OCTETS or pos + 1 + length > size:
            return None
        labels.append(msg[pos + 1 : pos + 1 + length])
        pos += 1 + length
    return printable(b".".join(labels), MAX_NAME_OCTETS), (resume if resume >= 0 else pos)


def _txt_strings(rdata: bytes) -> str:
    parts = []
    pos = 0
    while pos < len(rdata):
        length = rdata[pos]
        parts.append(rdata[pos + 1 : pos + 1 + length])
        pos += 1 + length
    return printable(b"".join(parts), MAX_ANSWER_CHARS)


def _render_answer(msg: bytes, rtype: int, start: int, end: int) -> str | None:
    if rtype == TYPE_A and end - start == 4:
        return socket.inet_ntop(socket.AF_INET, msg[start:end])
    if rtype == TYPE_AAAA and end - start == 16:
        return socket.inet_ntop(socket.AF_INET6, msg[start:end])
    if rtype in NAME_TYPES:
        name = read_name(msg, start)
        return name[0] if name else None
    if rtype == TYPE_TXT:
        return _txt_strings(msg[start:end])
    return None


def _answers(msg: bytes, pos: int, count: int) -> list[str]:
    """Rendered answers, as many as are intact (a truncated answer section keeps the ones before it)."""
    answers: list[str] = []
    for _ in range(count):
        name = read_name(msg, pos)
        if name is None or name[1] + _RECORD.size > len(msg):
            break
        pos = name[1]
        rtype, _rclass, _ttl, rdlength = _RECORD.unpack_from(msg, pos)
        start = pos + _RECORD.size
        pos = start + rdlength
        if pos > len(msg):
            break
        rendered = _render_answer(msg, rtype, start, pos)
        if rendered is not None:
            answers.append(rendered)
            if len(answers) == MAX_ANSWERS:
                break
    return answers


def parse_message(ctx: PacketContext, msg: bytes) -> DnsEvent | None:
    if len(msg) < _HEADER.size:
        return None
    txid, flags, qdcount, ancount, _nscount, _arcount = _HEADER.unpack(msg[: _HEADER.size])
    if qdcount == 0:
        return None
    question = read_name(msg, _HEADER.size)
    if question is None or question[1] + 4 > len(msg):
        return None
    query, pos = question
    qtype = (msg[pos] << 8) | msg[pos + 1]
    is_response = bool(flags & 0x8000)
    answers: list[str] = []
    if is_response and ancount and qdcount == 1:
        answers = _answers(msg, pos + 4, ancount)
    return ctx.event(
        DnsEvent,
        query=query,
        qtype=qtype,
        is_response=is_response,
        rcode=flags & 0x000F,
        answers=answers,
        txid=txid,
    )


def _tcp_message_length(data: bytes, start: int) -> int | None:
    if start + 2 > len(data):
        return 2
    length = (data[start] << 8) | data[start + 1]
    return 2 + length if length >= _HEADER.size else None  # shorter than a DNS header: not a message


class DnsExtractor(PortBasedExtractor):
    tcp_ports = frozenset((53,))
    udp_ports = frozenset((53, 5353))

    def __init__(self) -> None:
        self._segments = SegmentedMessages(_tcp_message_length)

    def on_payload(self, ctx: PacketContext, payload: bytes) -> list[Event]:
        if ctx.proto == "UDP":
            event = parse_message(ctx, payload)
            return [event] if event else []
        messages = self._segments.feed((ctx.flow_uid, ctx.src_ip, ctx.src_port), payload)
        return [event for message in messages if (event := parse_message(ctx, message[2:]))]
