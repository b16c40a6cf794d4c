"""What the sensor ships to the appliance: flows, protocol events and capture statistics.

Records never hold references to each other, so they are untracked by the cyclic GC (gc=False): building
millions of them then costs no collector pauses.

This module is the narrow interface between the sensor (capture -> decode -> flows -> metadata) and the
engine. Everything here is a msgspec Struct so a batch round-trips through msgpack without loss; field
names are part of the wire format, so change them only together with a schema version bump.

Times are seconds since the epoch as floats, taken from the packets (never the wall clock), so replaying
a capture yields the same records as living through it.

Value ranges: the annotated types below are checked by msgspec while the appliance decodes a batch (in C,
field by field, so they cost next to nothing; encoding does not check them). They admit everything the sensor
can produce from any traffic (a capture whose clock steps back gives negative inter-arrival times and a flow
ending before it started; a crafted pcapng any finite time) and refuse what no sensor sends and what the
engine must never see: NaN and infinities (they fail every bound), negative counts, ports outside 0..65535,
fields this version does not know (`forbid_unknown_fields`: no padding stored verbatim) and oversized
strings and lists. The engine copes with the odd-but-possible values itself (appliance/engine/intake.py).
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

SCHEMA_VERSION = 1

_LARGEST_FLOAT = 1.7976931348623157e308
Real = Annotated[float, Meta(ge=-_LARGEST_FLOAT, le=_LARGEST_FLOAT)]  # any finite number
Amount = Annotated[float, Meta(ge=0.0, le=_LARGEST_FLOAT)]  # a finite size or spread, never negative
Count = Annotated[int, Meta(ge=0, le=2**63 - 1)]  # packets, bytes, flags seen: fits SQLite's INTEGER
Port = Annotated[int, Meta(ge=0, le=65535)]
Code = Annotated[int, Meta(ge=0, le=2**32 - 1)]  # protocol numbers, ids and function codes (<= 32 bits)
Signed = Annotated[int, Meta(ge=-(2**63), le=2**63 - 1)]  # DER integers of up to 8 bytes (Kerberos), sizes
Short = Annotated[str, Meta(max_length=128)]  # addresses, ids, states, protocol names
# Strings taken from packets: text.printable() keeps at most 1 KiB (4 characters a byte as \xNN), an HTTP
# method is whatever precedes the first space of an 8 KiB header block.
Text = Annotated[str, Meta(max_length=16384)]
MAX_RECORDS = 100_000  # flows, and events, per batch: the shipper sends 5,000 by default


class Flow(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False, forbid_unknown_fields=True):
    """One bidirectional conversation, keyed on the 5-tuple. "orig" is the side that sent the first packet."""

    uid: Short  # stable id within a sensor run, e.g. "F" + counter in base36
    ts_start: Real
    ts_end: Real
    proto: Short  # "TCP", "UDP", "ICMP", "ICMPv6" or the IP protocol number as a string
    src_ip: Short
    dst_ip: Short
    src_port: Port = 0  # for ICMP: the type of the first packet
    dst_port: Port = 0  # for ICMP: the code of the first packet
    src_mac: Short = ""
    dst_mac: Short = ""
    vlan: Annotated[int, Meta(ge=0, le=4095)] = 0
    pkts_orig: Count = 0
    pkts_resp: Count = 0
    bytes_orig: Count = 0  # IP bytes (header included)
    bytes_resp: Count = 0
    payload_orig: Count = 0  # transport payload bytes
    payload_resp: Count = 0
    conn_state: Short = ""  # Zeek-style for TCP: S0, S1, SF, REJ, S2, S3, RSTO, RSTR, RSTOS0, RSTRH, SH, SHR, OTH
    history: Short = ""  # Zeek-style history letters (ShADadFf...), upper case for orig, lower for resp
    syn: Count = 0
    synack: Count = 0
    fin: Count = 0
    rst: Count = 0
    psh: Count = 0
    ack_only: Count = 0  # packets with ACK and no other flag and no payload
    urg: Count = 0
    tcp_flags_orig: Count = 0  # OR of all TCP flag bytes seen from orig (FIN/NULL/XMAS scans show here)
    iat_mean: Real = 0.0  # inter-arrival times over the whole flow, seconds
    iat_std: Amount = 0.0
    iat_min: Real = 0.0
    iat_max: Real = 0.0
    size_mean: Amount = 0.0  # IP packet sizes, both directions
    size_std: Amount = 0.0
    size_min: Count = 0
    size_max: Count = 0
    # sizes of the first payload-carrying packets: + from orig, - from resp (<= 8)
    first_payloads: Annotated[list[Signed], Meta(max_length=64)] = []
    end_reason: Short = ""  # "fin", "rst", "idle", "active", "evicted", "end"
    # The application protocol the payload speaks (sensor.protocols.services: "ssh", "ftp", "tls", "smb" ...),
    # identified from the first bytes of either side whatever the port; "" when nothing matched. Ports are
    # never the reason (UDP services excepted, which are checked on ports where their content also matches).
    service: Short = ""
    # Logins seen in this flow (this segment of it, after an "active" cut): every attempt, and those whose
    # outcome the server's answer showed. attempts >= failures + successes; the rest had no visible outcome.
    auth_attempts: Count = 0
    auth_failures: Count = 0
    auth_successes: Count = 0
    # The originator's rhythm: a burst starts when it sends payload after at least BURST_GAP_S seconds
    # (sensor.flows.bursts) without any. bursts_orig counts them; for flows with at least 4 bursts,
    # burst_gaps holds the last (<= 32) gaps between burst starts in seconds and burst_sizes the payload
    # bytes of the last (<= 32) bursts, oldest first (both empty for flows with fewer bursts).
    bursts_orig: Count = 0
    burst_gaps: Annotated[list[Amount], Meta(max_length=64)] = []
    burst_sizes: Annotated[list[Count], Meta(max_length=64)] = []
    # A second source / destination MAC pair that the originator's packets carried after the first pair
    # (src_mac, dst_mac); "" when every originator packet carried the first pair. Off-subnet traffic whose
    # next hop changes MAC mid-flow is what ARP poisoning looks like from the data plane.
    src_mac_alt: Short = ""
    dst_mac_alt: Short = ""


class Event(msgspec.Struct, kw_only=True, omit_defaults=True, tag_field="kind", gc=False, forbid_unknown_fields=True):
    """Protocol metadata, taken only from the packet that carries it."""

    ts: Real
    src_ip: Short = ""
    dst_ip: Short = ""
    src_port: Port = 0
    dst_port: Port = 0
    proto: Short = ""
    src_mac: Short = ""
    flow_uid: Short = ""


class DnsEvent(Event, tag="dns"):
    query: Text = ""
    qtype: Code = 0  # 1 A, 16 TXT, 10 NULL, 28 AAAA ...
    is_response: bool = False
    rcode: Code = 0
    answers: Annotated[list[Text], Meta(max_length=64)] = []
    txid: Code = 0


class TlsClientHelloEvent(Event, tag="tls_client_hello"):
    sni: Text = ""
    version: Code = 0  # highest offered (supported_versions if present)
    # the JA3 string (version,ciphers,extensions,curves,point formats): a ClientHello of up to 18 KB lists at
    # most ~9,000 two-byte values, each up to 5 digits and a separator
    ja3: Annotated[str, Meta(max_length=65536)] = ""
    ja3_hash: Short = ""  # md5 of ja3
    ja4: Short = ""
    alpn: Annotated[list[Text], Meta(max_length=32768)] = []  # the sensor keeps every name a ClientHello lists


class TlsCertificateEvent(Event, tag="tls_certificate"):
    """The certificates a server sent in clear (TLS 1.2 and older: TLS 1.3 encrypts them), so src is the server."""

    cert_sha1: Short = ""  # SHA-1 of the server's own (leaf) certificate, hex
    chain_sha1: Annotated[list[Short], Meta(max_length=16)] = []  # of the others it sent, in its order


class HttpRequestEvent(Event, tag="http_request"):
    method: Text = ""
    uri: Text = ""
    host: Text = ""
    user_agent: Text = ""
    basic_auth: bool = False  # an Authorization: Basic header was present (credentials never stored)
    basic_auth_user: Text = ""


class SshBannerEvent(Event, tag="ssh_banner"):
    banner: Text = ""
    from_server: bool = False


class CleartextLoginEvent(Event, tag="cleartext_login"):
    """A credential went over the wire in clear. The password itself is never recorded."""

    protocol: Short = ""  # "ftp", "telnet", "pop3", "imap", "http_basic", "smtp"
    username: Text = ""
    password_seen: bool = False


class KerberosEvent(Event, tag="kerberos"):
    msg_type: Signed = 0  # 10 AS-REQ, 11 AS-REP, 12 TGS-REQ, 13 TGS-REP, 30 KRB-ERROR
    requested_etypes: Annotated[list[Signed], Meta(max_length=64)] = []  # etypes the client offered (REQ)
    ticket_etype: Signed = 0  # etype of the ticket's enc-part (REP); 23 = RC4-HMAC
    service: Text = ""  # sname, e.g. "HTTP/dc-mantvydas"
    realm: Text = ""
    error_code: Signed = 0


class DhcpEvent(Event, tag="dhcp"):
    msg_type: Code = 0  # 1 DISCOVER, 2 OFFER, 3 REQUEST, 5 ACK, 6 NAK ...
    client_mac: Short = ""
    server_id: Short = ""  # option 54
    offered_ip: Short = ""  # yiaddr
    requested_ip: Short = ""  # option 50
    xid: Code = 0
    hostname: Text = ""


class ArpEvent(Event, tag="arp"):
    op: Code = 0  # 1 who-has, 2 is-at
    sender_mac: Short = ""
    sender_ip: Short = ""
    target_mac: Short = ""
    target_ip: Short = ""


class ModbusEvent(Event, tag="modbus"):
    function_code: Code = 0
    unit_id: Code = 0
    transaction_id: Code = 0
    is_response: bool = False
    exception: bool = False


class Dnp3Event(Event, tag="dnp3"):
    function_code: Code = 0  # application layer: 2 WRITE, 3 SELECT, 4 OPERATE, 5 DIRECT_OPERATE, 6 DIRECT_OPERATE_NR
    source_addr: Code = 0
    dest_addr: Code = 0
    is_response: bool = False


class BacnetEvent(Event, tag="bacnet"):
    service: Code = 0  # confirmed service choice, 15 WriteProperty, 16 WritePropertyMultiple
    confirmed: bool = True
    is_response: bool = False


AnyEvent = (
    DnsEvent
    | TlsClientHelloEvent
    | TlsCertificateEvent
    | HttpRequestEvent
    | SshBannerEvent
    | CleartextLoginEvent
    | KerberosEvent
    | DhcpEvent
    | ArpEvent
    | ModbusEvent
    | Dnp3Event
    | BacnetEvent
)


class CaptureStats(msgspec.Struct, kw_only=True, omit_defaults=True, forbid_unknown_fields=True):
    packets: Count = 0
    bytes: Count = 0
    decoded: Count = 0
    malformed: Count = 0
    fragments: Count = 0
    kernel_drops: Count = 0  # from PACKET_STATISTICS on live capture
    flows_evicted: Count = 0  # flows pushed out by the memory cap


class Batch(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """What one POST to the ingest endpoint carries. (agent_id, seq) is unique: the appliance drops repeats."""

    schema: int = SCHEMA_VERSION
    agent_id: Short
    # The box stores seq and the sensor's next seq (seq + 1) as SQLite INTEGERs, so seq + 1 must fit in 63 bits.
    seq: Annotated[int, Meta(ge=0, le=2**63 - 2)]
    sent_at: Real
    flows: Annotated[list[Flow], Meta(max_length=MAX_RECORDS)] = []
    events: Annotated[list[AnyEvent], Meta(max_length=MAX_RECORDS)] = []
    stats: CaptureStats = msgspec.field(default_factory=CaptureStats)  # packets since the previous batch


def encode_batch(batch: Batch) -> bytes:
    return msgspec.msgpack.encode(batch)


def decode_batch(data: bytes) -> Batch:
    return msgspec.msgpack.decode(data, type=Batch)
