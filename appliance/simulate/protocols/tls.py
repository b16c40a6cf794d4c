"""TLS 1.2/1.3 handshakes as browsers and other clients send them: real ClientHello fields
(SNI, cipher suites, extensions, groups, ALPN) so JA3/JA4 and SNI come out as on a real network."""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

from appliance.simulate.capture import Capture
from appliance.simulate.protocols import x509
from appliance.simulate.tcp import TcpConversation

CONTENT_CCS, CONTENT_HANDSHAKE, CONTENT_APPLICATION_DATA = 20, 22, 23
MAX_RECORD = 16384
AEAD_OVERHEAD = 17  # 16-byte tag + the inner content type byte of TLS 1.3

EXT_SERVER_NAME = 0
EXT_STATUS_REQUEST = 5
EXT_SUPPORTED_GROUPS = 10
EXT_EC_POINT_FORMATS = 11
EXT_SIGNATURE_ALGORITHMS = 13
EXT_ALPN = 16
EXT_SCT = 18
EXT_PADDING = 21
EXT_EXTENDED_MASTER_SECRET = 23
EXT_SESSION_TICKET = 35
EXT_SUPPORTED_VERSIONS = 43
EXT_PSK_MODES = 45
EXT_KEY_SHARE = 51
EXT_QUIC_TRANSPORT_PARAMETERS = 57
EXT_RENEGOTIATION_INFO = 0xFF01

X25519, SECP256R1, SECP384R1 = 0x001D, 0x0017, 0x0018
GREASE_VALUES = tuple(0x0A0A + 0x1010 * i for i in range(16))


@dataclass(frozen=True)
class ClientProfile:
    """What one TLS stack offers; the differences are what JA3/JA4 fingerprint."""

    name: str
    ciphers: tuple[int, ...]
    extensions: tuple[int, ...]
    groups: tuple[int, ...]
    alpn: tuple[str, ...]
    grease: bool
    tls13: bool


_TLS13_SUITES = (0x1301, 0x1302, 0x1303)
_ECDHE_SUITES = (0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0xC013, 0xC014, 0x009C, 0x009D, 0x002F, 0x0035)
ED25519_SIGNATURE = 0x0807
SIGNATURE_ALGORITHMS = (0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601, ED25519_SIGNATURE)

CHROME = ClientProfile(
    "chrome",
    _TLS13_SUITES + _ECDHE_SUITES,
    (
        EXT_SERVER_NAME,
        EXT_EXTENDED_MASTER_SECRET,
        EXT_RENEGOTIATION_INFO,
        EXT_SUPPORTED_GROUPS,
        EXT_EC_POINT_FORMATS,
        EXT_SESSION_TICKET,
        EXT_ALPN,
        EXT_STATUS_REQUEST,
        EXT_SIGNATURE_ALGORITHMS,
        EXT_SCT,
        EXT_KEY_SHARE,
        EXT_PSK_MODES,
        EXT_SUPPORTED_VERSIONS,
    ),
    (X25519, SECP256R1, SECP384R1),
    ("h2", "http/1.1"),
    grease=True,
    tls13=True,
)
FIREFOX = ClientProfile(
    "firefox",
    (
        0x1301,
        0x1303,
        0x1302,
        0xC02B,
        0xC02F,
        0xCCA9,
        0xCCA8,
        0xC02C,
        0xC030,
        0xC00A,
        0xC009,
        0xC013,
        0xC014,
        0x009C,
        0x009D,
        0x002F,
        0x0035,
    ),
    (
        EXT_SERVER_NAME,
        EXT_EXTENDED_MASTER_SECRET,
        EXT_RENEGOTIATION_INFO,
        EXT_SUPPORTED_GROUPS,
        EXT_EC_POINT_FORMATS,
        EXT_SESSION_TICKET,
        EXT_ALPN,
        EXT_STATUS_REQUEST,
        EXT_KEY_SHARE,
        EXT_SUPPORTED_VERSIONS,
        EXT_SIGNATURE_ALGORITHMS,
        EXT_PSK_MODES,
        EXT_PADDING,
    ),
    (X25519, SECP256R1, SECP384R1, 0x0019, 0x0100, 0x0101),
    ("h2", "http/1.1"),
    grease=False,
    tls13=True,
)
SCHANNEL = ClientProfile(
    "schannel",
    (
        0xC02C,
        0xC02B,
        0xC030,
        0xC02F,
        0xC024,
        0xC023,
        0xC028,
        0xC027,
        0xC00A,
        0xC009,
        0xC014,
        0xC013,
        0x009D,
        0x009C,
        0x003D,
        0x003C,
        0x0035,
        0x002F,
    ),
    (
        EXT_SERVER_NAME,
        EXT_STATUS_REQUEST,
        EXT_SUPPORTED_GROUPS,
        EXT_EC_POINT_FORMATS,
        EXT_SIGNATURE_ALGORITHMS,
        EXT_SESSION_TICKET,
        EXT_ALPN,
        EXT_EXTENDED_MASTER_SECRET,
        EXT_RENEGOTIATION_INFO,
    ),
    (X25519, SECP256R1, SECP384R1),
    ("http/1.1",),
    grease=False,
    tls13=False,
)
PYTHON_REQUESTS = ClientProfile(
    "python",
    (*_TLS13_SUITES, 49196, 49200, 159, 52393, 52392, 52394, 49195, 49199, 158),
    (
        EXT_SERVER_NAME,
        EXT_EC_POINT_FORMATS,
        EXT_SUPPORTED_GROUPS,
        EXT_SESSION_TICKET,
        EXT_EXTENDED_MASTER_SECRET,
        EXT_SIGNATURE_ALGORITHMS,
        EXT_SUPPORTED_VERSIONS,
        EXT_PSK_MODES,
        EXT_KEY_SHARE,
    ),
    (X25519, SECP256R1, SECP384R1, 0x0019),
    (),
    grease=False,
    tls13=True,
)
# Go's crypto/tls: short cipher list, no ALPN. Implants written in Go (Sliver, Merlin) and ordinary Go tools
# (restic, rclone, Docker) share it, so the fingerprint alone proves nothing.
GO_CRYPTO_TLS = ClientProfile(
    "go",
    (0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0x1301, 0x1302, 0x1303),
    (
        EXT_SERVER_NAME,
        EXT_STATUS_REQUEST,
        EXT_SUPPORTED_GROUPS,
        EXT_EC_POINT_FORMATS,
        EXT_SIGNATURE_ALGORITHMS,
        EXT_RENEGOTIATION_INFO,
        EXT_SCT,
        EXT_SUPPORTED_VERSIONS,
        EXT_KEY_SHARE,
    ),
    (X25519, SECP256R1, SECP384R1),
    (),
    grease=False,
    tls13=True,
)


# Chrome over QUIC (RFC 9001): TLS 1.3 only, ALPN h3, and the QUIC transport parameters in the ClientHello.
CHROME_QUIC = ClientProfile(
    "chrome-quic",
    _TLS13_SUITES,
    (
        EXT_SERVER_NAME,
        EXT_SUPPORTED_GROUPS,
        EXT_SIGNATURE_ALGORITHMS,
        EXT_ALPN,
        EXT_KEY_SHARE,
        EXT_PSK_MODES,
        EXT_SUPPORTED_VERSIONS,
        EXT_QUIC_TRANSPORT_PARAMETERS,
    ),
    (X25519, SECP256R1, SECP384R1),
    ("h3",),
    grease=True,
    tls13=True,
)
# Go's quic-go (Merlin's HTTP/3 transport, and ordinary Go tools): no GREASE, h3 only.
QUIC_GO = ClientProfile(
    "quic-go",
    _TLS13_SUITES,
    (EXT_SERVER_NAME, EXT_SUPPORTED_GROUPS, EXT_SIGNATURE_ALGORITHMS, EXT_ALPN, EXT_KEY_SHARE, EXT_PSK_MODES,
     EXT_SUPPORTED_VERSIONS, EXT_QUIC_TRANSPORT_PARAMETERS),
    (X25519, SECP256R1, SECP384R1),
    ("h3",),
    grease=False,
    tls13=True,
)
# initial_max_data, initial_max_stream_data_bidi_local, initial_max_streams_bidi, max_idle_timeout (varints)
_QUIC_TRANSPORT_PARAMETERS = bytes.fromhex("04048096000005048006000008024064010480007530")


def _vector(data: bytes, length_bytes: int) -> bytes:
    return len(data).to_bytes(length_bytes, "big") + data


def _u16s(values: tuple[int, ...] | list[int]) -> bytes:
    return struct.pack(f"!{len(values)}H", *values)


def _extension(ext_type: int, body: bytes) -> bytes:
    return struct.pack("!HH", ext_type, len(body)) + body


def _client_extension(ext_type: int, profile: ClientProfile, sni: str, rng: random.Random, grease: int) -> bytes:
    if ext_type == EXT_SERVER_NAME:
        if not sni:
            return b""  # clients leave SNI out when they connect to a bare IP address (RFC 6066 3)
        name = sni.encode("ascii")
        return _extension(ext_type, _vector(b"\x00" + _vector(name, 2), 2))
    if ext_type == EXT_SUPPORTED_GROUPS:
        return _extension(ext_type, _vector(_u16s(((grease,) if profile.grease else ()) + profile.groups), 2))
    if ext_type == EXT_EC_POINT_FORMATS:
        return _extension(ext_type, b"\x01\x00")
    if ext_type == EXT_SIGNATURE_ALGORITHMS:
        return _extension(ext_type, _vector(_u16s(SIGNATURE_ALGORITHMS), 2))
    if ext_type == EXT_ALPN:
        protocols = b"".join(_vector(p.encode(), 1) for p in profile.alpn)
        return _extension(ext_type, _vector(protocols, 2))
    if ext_type == EXT_STATUS_REQUEST:
        return _extension(ext_type, b"\x01\x00\x00\x00\x00")
    if ext_type == EXT_RENEGOTIATION_INFO:
        return _extension(ext_type, b"\x00")
    if ext_type == EXT_SUPPORTED_VERSIONS:
        versions = ((grease,) if profile.grease else ()) + (0x0304, 0x0303)
        return _extension(ext_type, _vector(_u16s(versions), 1))
    if ext_type == EXT_PSK_MODES:
        return _extension(ext_type, b"\x01\x01")
    if ext_type == EXT_KEY_SHARE:
        share = struct.pack("!HH", X25519, 32) + rng.randbytes(32)
        if profile.grease:
            share = struct.pack("!HH", grease, 1) + b"\x00" + share
        return _extension(ext_type, _vector(share, 2))
    if ext_type == EXT_PADDING:
        return _extension(ext_type, bytes(rng.randint(8, 200)))
    if ext_type == EXT_QUIC_TRANSPORT_PARAMETERS:
        return _extension(ext_type, _QUIC_TRANSPORT_PARAMETERS + bytes((0x0F, 8)) + rng.randbytes(8))
    return _extension(ext_type, b"")  # extended master secret, session ticket, SCT: empty in a ClientHello


def client_hello(rng: random.Random, sni: str, profile: ClientProfile) -> bytes:
    """A whole TLS record carrying one ClientHello."""
    return _record(CONTENT_HANDSHAKE, client_hello_message(rng, sni, profile), version=0x0301)


def client_hello_message(rng: random.Random, sni: str, profile: ClientProfile) -> bytes:
    """The ClientHello handshake message alone (QUIC carries it in CRYPTO frames, without a record)."""
    grease = rng.choice(GREASE_VALUES)
    ciphers = ((grease,) if profile.grease else ()) + profile.ciphers
    extension_types = list(profile.extensions)
    if profile.grease:
        rng.shuffle(extension_types)  # Chrome permutes its extensions on every connection
    extensions = b"".join(_client_extension(t, profile, sni, rng, grease) for t in extension_types)
    if profile.grease:
        extensions = _extension(grease, b"") + extensions + _extension(rng.choice(GREASE_VALUES), b"\x00")
    body = (
        b"\x03\x03"
        + rng.randbytes(32)
        + _vector(rng.randbytes(32), 1)
        + _vector(_u16s(ciphers), 2)
        + b"\x01\x00"
        + _vector(extensions, 2)
    )
    return b"\x01" + _vector(body, 3)


def server_hello_message(rng: random.Random) -> bytes:
    """A TLS 1.3 ServerHello (x25519 key share, TLS_AES_128_GCM_SHA256)."""
    extensions = _extension(EXT_SUPPORTED_VERSIONS, b"\x03\x04") + _extension(
        EXT_KEY_SHARE, struct.pack("!HH", X25519, 32) + rng.randbytes(32)
    )
    body = b"\x03\x03" + rng.randbytes(32) + _vector(rng.randbytes(32), 1) + struct.pack("!HB", 0x1301, 0)
    return b"\x02" + _vector(body + _vector(extensions, 2), 3)


def server_flight(rng: random.Random, capture: Capture, tls13: bool, server_name: str) -> bytes:
    """ServerHello and the rest of the server's first flight. For TLS 1.3 everything after ServerHello is
    encrypted; for TLS 1.2 the certificate (Ed25519, ECDHE-ECDSA suite) and key exchange are in clear."""
    if tls13:
        hello = _record(CONTENT_HANDSHAKE, server_hello_message(rng))
        return hello + _record(CONTENT_CCS, b"\x01") + application_data(capture, rng.randint(2800, 4600), rng)
    extensions = _extension(EXT_RENEGOTIATION_INFO, b"\x00") + _extension(EXT_EC_POINT_FORMATS, b"\x01\x00")
    body = b"\x03\x03" + rng.randbytes(32) + _vector(rng.randbytes(32), 1) + struct.pack("!HB", 0xC02C, 0)
    hello = _record(CONTENT_HANDSHAKE, b"\x02" + _vector(body + _vector(extensions, 2), 3))
    certificate = b"\x0b" + _vector(_vector(_vector(x509.server_certificate(server_name or "localhost"), 3), 3), 3)
    key_exchange = b"\x0c" + _vector(
        b"\x03"
        + struct.pack("!H", X25519)
        + _vector(rng.randbytes(32), 1)
        + struct.pack("!H", ED25519_SIGNATURE)
        + _vector(rng.randbytes(64), 2),
        3,
    )
    return (
        hello
        + _record(CONTENT_HANDSHAKE, certificate)
        + _record(CONTENT_HANDSHAKE, key_exchange)
        + _record(CONTENT_HANDSHAKE, b"\x0e\x00\x00\x00")
    )


def client_finish(rng: random.Random, capture: Capture, tls13: bool) -> bytes:
    if tls13:
        return _record(CONTENT_CCS, b"\x01") + application_data(capture, 36, rng)
    key_exchange = _record(CONTENT_HANDSHAKE, b"\x10" + _vector(_vector(rng.randbytes(32), 1), 3))
    return key_exchange + _record(CONTENT_CCS, b"\x01") + _record(CONTENT_HANDSHAKE, rng.randbytes(40))


def application_data(capture: Capture, size: int, rng: random.Random) -> bytes:
    """`size` bytes of plaintext as the encrypted records that carry it."""
    records = []
    offset = rng.getrandbits(17)
    while True:
        chunk = min(size, MAX_RECORD)
        records.append(_record(CONTENT_APPLICATION_DATA, capture.filler(chunk + AEAD_OVERHEAD, offset)))
        offset += chunk
        size -= chunk
        if size <= 0:
            return b"".join(records)


def _record(content_type: int, fragment: bytes, version: int = 0x0303) -> bytes:
    return struct.pack("!BHH", content_type, version, len(fragment)) + fragment


def handshake_and_exchange(
    conv: TcpConversation,
    rng: random.Random,
    sni: str,
    profile: ClientProfile,
    exchanges: list[tuple[int, int]],
    think: float = 0.05,
) -> None:
    """On an open connection (right after the TCP handshake, or after a STARTTLS or an RDP negotiation), run
    the TLS handshake, then each (upload, download) pair as encrypted records. The caller ends it."""
    capture = conv.capture
    conv.client_sends(client_hello(rng, sni, profile))
    conv.server_sends(server_flight(rng, capture, profile.tls13, sni), processing=0.002)
    conv.client_sends(client_finish(rng, capture, profile.tls13))
    if not profile.tls13:
        conv.server_sends(_record(CONTENT_CCS, b"\x01") + _record(CONTENT_HANDSHAKE, rng.randbytes(40)))
    for upload, download in exchanges:
        conv.client_sends(application_data(capture, upload, rng), think=think)
        if download:
            conv.server_sends(application_data(capture, download, rng), processing=0.01)
