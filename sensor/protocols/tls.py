"""TLS on any TCP port: the ClientHello (SNI, ALPN, offered version, JA3 and JA4 fingerprints) and the server's
certificates (their SHA-1, as abuse.ch SSLBL and other feeds list them).

The certificates travel in clear only up to TLS 1.2: the server's first flight (ServerHello, Certificate, ...)
is followed until its Certificate message, and no further once its ServerHello picked TLS 1.3 (which encrypts
them), resumed a session (no Certificate) or SERVER_PAYLOADS of it went by.

JA3 (salesforce/ja3): "version,ciphers,extensions,groups,point formats", decimal, dash-joined,
GREASE removed; the hash is its md5. JA4 (FoxIO, technical_details/JA4.md): t<version><d|i><#ciphers>
<#extensions><alpn first+last>_<sha256[:12] of sorted ciphers>_<sha256[:12] of sorted extensions without
SNI/ALPN, then the signature algorithms in wire order>.
"""

from __future__ import annotations

import hashlib
import struct
from typing import NamedTuple

from sensor.protocols.extractor import PacketContext, PortBasedExtractor
from sensor.protocols.flow_state import BoundedFlowState
from sensor.protocols.reassembly import SegmentedMessages
from sensor.protocols.text import printable
from sensor.records import Event, TlsCertificateEvent, TlsClientHelloEvent

CONTENT_HANDSHAKE = 0x16
HANDSHAKE_CLIENT_HELLO = 0x01
HANDSHAKE_SERVER_HELLO = 0x02
HANDSHAKE_CERTIFICATE = 0x0B
HANDSHAKE_SERVER_HELLO_DONE = 0x0E
TLS13 = 0x0304
MAX_RECORD = 5 + 16384 + 2048  # TLSPlaintext limit plus slack for lenient stacks
HELLO_PAYLOADS = 4  # a flow's ClientHello is within its first payloads (both sides), or there is none
MAX_FLOWS = 65536
SERVER_PAYLOADS = 24  # a server's first flight with a long certificate chain is ~10 segments
MAX_FLIGHT = 65536  # handshake bytes of a server's first flight kept while its Certificate is incomplete
MAX_CHAIN = 16

EXT_SERVER_NAME = 0x0000
EXT_SUPPORTED_GROUPS = 0x000A
EXT_EC_POINT_FORMATS = 0x000B
EXT_SIGNATURE_ALGORITHMS = 0x000D
EXT_ALPN = 0x0010
EXT_SUPPORTED_VERSIONS = 0x002B

JA4_VERSIONS = {
    0x0304: "13",
    0x0303: "12",
    0x0302: "11",
    0x0301: "10",
    0x0300: "s3",
    0x0200: "s2",
    0x0100: "s1",
    0xFEFF: "d1",
    0xFEFD: "d2",
    0xFEFC: "d3",
}
EMPTY_JA4_HASH = "000000000000"


# RFC 8701 reserves 0x0a0a, 0x1a1a, ... 0xfafa so that clients can check servers tolerate unknown values
GREASE = frozenset(0x0A0A + 0x1010 * i for i in range(16))


class ClientHello(NamedTuple):
    version: int  # legacy_version of the hello body
    ciphers: list[int]  # GREASE removed, wire order
    extensions: list[int]
    groups: list[int]
    point_formats: list[int]
    signature_algorithms: list[int]
    supported_versions: list[int]
    sni: str
    alpn: list[bytes]


def _u16_list(data: bytes, start: int, end: int) -> list[int]:
    end = min(end, len(data))
    count = (end - start) // 2
    if count <= 0:
        return []
    return [v for v in struct.unpack_from(f"!{count}H", data, start) if v not in GREASE]


def _server_name(data: bytes, start: int, end: int) -> str:
    # server_name_list length (2), then entries of name_type (1), length (2), name; host_name is type 0
    pos = start + 2
    while pos + 3 <= end:
        name_type = data[pos]
        length = (data[pos + 1] << 8) | data[pos + 2]
        if name_type == 0:
            return printable(data[pos + 3 : min(pos + 3 + length, end)])
        pos += 3 + length
    return ""


def _alpn(data: bytes, start: int, end: int) -> list[bytes]:
    protocols = []
    pos = start + 2  # protocol_name_list length
    while pos < end:
        length = data[pos]
        if pos + 1 + length > end:
            break
        protocols.append(data[pos + 1 : pos + 1 + length])
        pos += 1 + length
    return protocols


def parse_client_hello(record: bytes) -> ClientHello | None:
    """The ClientHello inside a TLS handshake record (header included), or None if it is not one."""
    if len(record) < 9 or record[0] != CONTENT_HANDSHAKE or record[5] != HANDSHAKE_CLIENT_HELLO:
        return None
    end = min(len(record), 5 + ((record[3] << 8) | record[4]), 9 + int.from_bytes(record[6:9], "big"))
    pos = 9
    if pos + 35 > end:
        return None
    version = (record[pos] << 8) | record[pos + 1]
    pos += 34  # version, random
    pos += 1 + record[pos]  # session id
    if pos + 2 > end:
        return None
    cipher_bytes = (record[pos] << 8) | record[pos + 1]
    ciphers = _u16_list(record, pos + 2, min(pos + 2 + cipher_bytes, end))
    pos += 2 + cipher_bytes
    if pos + 1 > end:
        return None
    pos += 1 + record[pos]  # compression methods
    extensions: list[int] = []
    groups: list[int] = []
    point_formats: list[int] = []
    signature_algorithms: list[int] = []
    supported_versions: list[int] = []
    sni = ""
    alpn: list[bytes] = []
    if pos + 2 <= end:
        ext_end = min(end, pos + 2 + ((record[pos] << 8) | record[pos + 1]))
        pos += 2
        while pos + 4 <= ext_end:
            ext_type, ext_len = struct.unpack_from("!HH", record, pos)
            start = pos + 4
            pos = start + ext_len
            if pos > ext_end:
                break
            if ext_type in GREASE:
                continue
            extensions.append(ext_type)
            if ext_type == EXT_SERVER_NAME:
                sni = _server_name(record, start, pos)
            elif ext_type == EXT_SUPPORTED_GROUPS:
                groups = _u16_list(record, start + 2, pos)
            elif ext_type == EXT_EC_POINT_FORMATS and ext_len:
                point_formats = list(record[start + 1 : min(pos, start + 1 + record[start])])
            elif ext_type == EXT_SIGNATURE_ALGORITHMS:
                signature_algorithms = _u16_list(record, start + 2, pos)
            elif ext_type == EXT_ALPN:
                alpn = _alpn(record, start, pos)
            elif ext_type == EXT_SUPPORTED_VERSIONS:
                supported_versions = _u16_list(record, start + 1, pos)
    return ClientHello(
        version,
        ciphers,
        extensions,
        groups,
        point_formats,
        signature_algorithms,
        supported_versions,
        sni,
        alpn,
    )


def ja3_string(hello: ClientHello) -> str:
    def dashed(values: list[int]) -> str:
        return "-".join(map(str, values))

    return ",".join(
        (
            str(hello.version),
            dashed(hello.ciphers),
            dashed(hello.extensions),
            dashed(hello.groups),
            dashed(hello.point_formats),
        )
    )


def _ja4_alpn(alpn: list[bytes]) -> str:
    if not alpn or not alpn[0]:
        return "00"
    first, last = alpn[0][0], alpn[0][-1]
    if chr(first).isalnum() and chr(last).isalnum() and first < 0x80 and last < 0x80:
        return chr(first) + chr(last)
    hexed = alpn[0].hex()  # the spec falls back to the hex digits when the ends are not alphanumeric
    return hexed[0] + hexed[-1]


def _hex_list(values: list[int]) -> str:
    """ "002f,0035,c02b": 4 lower-case hex digits per value, comma-separated, as JA4 hashes them."""
    return struct.pack(f"!{len(values)}H", *values).hex(",", 2)


def _truncated_sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12] if text else EMPTY_JA4_HASH


def ja4(hello: ClientHello, transport: str = "t") -> str:
    version = max(hello.supported_versions) if hello.supported_versions else hello.version
    destination = "d" if EXT_SERVER_NAME in hello.extensions else "i"
    prefix = (
        f"{transport}{JA4_VERSIONS.get(version, '00')}{destination}"
        f"{min(len(hello.ciphers), 99):02d}{min(len(hello.extensions), 99):02d}{_ja4_alpn(hello.alpn)}"
    )
    cipher_list = _hex_list(sorted(hello.ciphers))
    ext_list = _hex_list(sorted(e for e in hello.extensions if e != EXT_SERVER_NAME and e != EXT_ALPN))
    if hello.signature_algorithms:
        ext_list += "_" + _hex_list(hello.signature_algorithms)
    return f"{prefix}_{_truncated_sha256(cipher_list)}_{_truncated_sha256(ext_list)}"


def _handshake_record_length(data: bytes, start: int) -> int | None:
    """Length of the handshake record at `start` (a lower bound while its header is incomplete); None for any
    other record: past the handshake, nothing is in clear."""
    if data[start] != CONTENT_HANDSHAKE:
        return None
    return 5 + ((data[start + 3] << 8) | data[start + 4]) if start + 5 <= len(data) else 5


def _selects_tls13(body: bytes) -> bool:
    """Whether a ServerHello body picks TLS 1.3 (its supported_versions extension; the legacy version says 1.2)."""
    pos = 34  # version, random
    if pos >= len(body):
        return False
    pos += 1 + body[pos] + 3  # session id, cipher suite, compression method
    if pos + 2 > len(body):
        return False
    end = min(len(body), pos + 2 + ((body[pos] << 8) | body[pos + 1]))
    pos += 2
    while pos + 4 <= end:
        ext_type, ext_len = struct.unpack_from("!HH", body, pos)
        if ext_type == EXT_SUPPORTED_VERSIONS and ext_len == 2:
            return ((body[pos + 4] << 8) | body[pos + 5]) == TLS13
        pos += 4 + ext_len
    return False


def certificate_sha1s(body: bytes) -> list[str]:
    """SHA-1 of each certificate of a (TLS 1.2) Certificate message body, the server's own first."""
    end = min(len(body), 3 + int.from_bytes(body[:3], "big"))
    pos, found = 3, []
    while pos + 3 <= end and len(found) < MAX_CHAIN:
        length = int.from_bytes(body[pos : pos + 3], "big")
        if length == 0 or pos + 3 + length > end:
            break
        found.append(hashlib.sha1(body[pos + 3 : pos + 3 + length], usedforsecurity=False).hexdigest())
        pos += 3 + length
    return found


class _ServerFlight:
    """What is known of a flow once its ClientHello went by: who the client is and the server's handshake so far."""

    __slots__ = ("client", "handshake", "payloads")

    def __init__(self, client: tuple[str, int]):
        self.client = client
        self.handshake = b""
        self.payloads = 0


def _client_hello_record_length(data: bytes, start: int) -> int | None:
    """Length of the ClientHello record at `start`; server handshakes are not worth buffering."""
    if data[start] != CONTENT_HANDSHAKE or start + 6 > len(data):
        return 6 if data[start] == CONTENT_HANDSHAKE else None
    if data[start + 1] != 3 or data[start + 5] != HANDSHAKE_CLIENT_HELLO:
        return None
    return 5 + ((data[start + 3] << 8) | data[start + 4])


class TlsExtractor(PortBasedExtractor):
    tcp_ports = frozenset((443, 465, 563, 636, 853, 989, 990, 992, 993, 994, 995, 3269, 5061, 8443))

    def __init__(self) -> None:
        self._segments = SegmentedMessages(_client_hello_record_length, max_message=MAX_RECORD)
        self._server_records = SegmentedMessages(_handshake_record_length, max_message=MAX_RECORD)
        self._looked: BoundedFlowState[int] = BoundedFlowState(MAX_FLOWS)
        self._flights: BoundedFlowState[_ServerFlight] = BoundedFlowState(MAX_FLOWS)

    def follows(self, flow_uid: str) -> bool:
        """Until the ClientHello and then the server's certificates: the rest of the flow is encrypted."""
        return self._flights.get(flow_uid) is not None or (self._looked.get(flow_uid) or 0) < HELLO_PAYLOADS

    def on_payload(self, ctx: PacketContext, payload: bytes) -> list[Event]:
        flight = self._flights.get(ctx.flow_uid)
        if flight is not None:
            return self._server_payload(ctx, payload, flight)
        records = self._segments.feed((ctx.flow_uid, ctx.src_ip, ctx.src_port), payload)
        hello = parse_client_hello(records[0]) if records else None
        self._looked.put(ctx.flow_uid, HELLO_PAYLOADS if hello else (self._looked.get(ctx.flow_uid) or 0) + 1)
        if hello is None:
            return []
        self._flights.put(ctx.flow_uid, _ServerFlight((ctx.src_ip, ctx.src_port)))
        ja3 = ja3_string(hello)
        return [
            ctx.event(
                TlsClientHelloEvent,
                sni=hello.sni,
                version=max(hello.supported_versions) if hello.supported_versions else hello.version,
                ja3=ja3,
                ja3_hash=hashlib.md5(ja3.encode(), usedforsecurity=False).hexdigest(),
                ja4=ja4(hello),
                alpn=[printable(p) for p in hello.alpn],
            )
        ]

    def _server_payload(self, ctx: PacketContext, payload: bytes, flight: _ServerFlight) -> list[Event]:
        flight.payloads += 1
        if flight.payloads > SERVER_PAYLOADS:
            self._flights.pop(ctx.flow_uid)
            return []
        if (ctx.src_ip, ctx.src_port) == flight.client:
            return []
        key = (ctx.flow_uid, ctx.src_ip, ctx.src_port)
        waiting = self._server_records.waiting(key)
        records = self._server_records.feed(key, payload)
        if not records and not waiting and payload[:1] != bytes((CONTENT_HANDSHAKE,)):
            self._flights.pop(ctx.flow_uid)  # encrypted records already (or an alert): no certificate in clear
            return []
        for record in records:
            flight.handshake = (flight.handshake + record[5:])[:MAX_FLIGHT]
        return self._server_messages(ctx, flight)

    def _server_messages(self, ctx: PacketContext, flight: _ServerFlight) -> list[Event]:
        """Reads the complete handshake messages of the server's flight; the flow is no longer followed once the
        certificates are read or cannot come in clear."""
        data, pos = flight.handshake, 0
        while pos + 4 <= len(data):
            kind, length = data[pos], int.from_bytes(data[pos + 1 : pos + 4], "big")
            if pos + 4 + length > len(data):
                break
            body = data[pos + 4 : pos + 4 + length]
            pos += 4 + length
            if kind == HANDSHAKE_CERTIFICATE:
                self._flights.pop(ctx.flow_uid)
                certificates = certificate_sha1s(body)
                if not certificates:
                    return []
                return [ctx.event(TlsCertificateEvent, cert_sha1=certificates[0], chain_sha1=certificates[1:])]
            if kind == HANDSHAKE_SERVER_HELLO_DONE or (kind == HANDSHAKE_SERVER_HELLO and _selects_tls13(body)):
                self._flights.pop(ctx.flow_uid)
                return []
        flight.handshake = data[pos:]
        return []
