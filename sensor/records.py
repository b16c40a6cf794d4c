"""What the sensor ships to the appliance: flows, protocol events and capture statistics.

Records never hold references to each other, so they are untracked by the cyclic GC (gc=False): building
millions of them then costs no collector pauses.

This module is the narrow interface between the sensor (capture -> decode -> flows -> metadata) and the
engine. Everything here is a msgspec Struct so a batch round-trips through msgpack without loss; field
names are part of the wire format, so change them only together with a schema version bump.

Times are seconds since the epoch as floats, taken from the packets (never the wall clock), so replaying
a capture yields the same records as living through it.
"""

from __future__ import annotations

import msgspec

SCHEMA_VERSION = 1


class Flow(msgspec.Struct, kw_only=True, omit_defaults=True, gc=False):
    """One bidirectional conversation, keyed on the 5-tuple. "orig" is the side that sent the first packet."""

    uid: str  # stable id within a sensor run, e.g. "F" + counter in base36
    ts_start: float
    ts_end: float
    proto: str  # "TCP", "UDP", "ICMP", "ICMPv6" or the IP protocol number as a string
    src_ip: str
    dst_ip: str
    src_port: int = 0  # for ICMP: the type of the first packet
    dst_port: int = 0  # for ICMP: the code of the first packet
    src_mac: str = ""
    dst_mac: str = ""
    vlan: int = 0
    pkts_orig: int = 0
    pkts_resp: int = 0
    bytes_orig: int = 0  # IP bytes (header included)
    bytes_resp: int = 0
    payload_orig: int = 0  # transport payload bytes
    payload_resp: int = 0
    conn_state: str = ""  # Zeek-style for TCP: S0, S1, SF, REJ, S2, S3, RSTO, RSTR, RSTOS0, RSTRH, SH, SHR, OTH
    history: str = ""  # Zeek-style history letters (ShADadFf...), upper case for orig, lower for resp
    syn: int = 0
    synack: int = 0
    fin: int = 0
    rst: int = 0
    psh: int = 0
    ack_only: int = 0  # packets with ACK and no other flag and no payload
    urg: int = 0
    tcp_flags_orig: int = 0  # OR of all TCP flag bytes seen from orig (FIN/NULL/XMAS scans show here)
    iat_mean: float = 0.0  # inter-arrival times over the whole flow, seconds
    iat_std: float = 0.0
    iat_min: float = 0.0
    iat_max: float = 0.0
    size_mean: float = 0.0  # IP packet sizes, both directions
    size_std: float = 0.0
    size_min: int = 0
    size_max: int = 0
    first_payloads: list[int] = []  # sizes of the first payload-carrying packets: + from orig, - from resp (<= 8)
    end_reason: str = ""  # "fin", "rst", "idle", "active", "evicted", "end"
    service: str = ""  # application protocol identified from the payload ("ssh", "ftp", "tls"...), "" if unknown
    auth_attempts: int = 0  # logins tried in this flow (>= failures + successes; unknown outcomes only count here)
    auth_failures: int = 0
    auth_successes: int = 0
    bursts_orig: int = 0  # the originator's bursts of payload after a silence
    burst_gaps: list[float] = []  # seconds between the last (up to 32) burst starts, oldest first
    burst_sizes: list[int] = []  # payload bytes of the last (up to 32) bursts
    src_mac_alt: str = ""  # a second source/destination MAC pair seen on the originator's packets
    dst_mac_alt: str = ""


class Event(msgspec.Struct, kw_only=True, omit_defaults=True, tag_field="kind", gc=False):
    """Protocol metadata, taken only from the packet that carries it."""

    ts: float
    src_ip: str = ""
    dst_ip: str = ""
    src_port: int = 0
    dst_port: int = 0
    proto: str = ""
    src_mac: str = ""
    flow_uid: str = ""


class DnsEvent(Event, tag="dns"):
    query: str = ""
    qtype: int = 0  # 1 A, 16 TXT, 10 NULL, 28 AAAA ...
    is_response: bool = False
    rcode: int = 0
    answers: list[str] = []
    txid: int = 0


class TlsClientHelloEvent(Event, tag="tls_client_hello"):
    sni: str = ""
    version: int = 0  # highest offered (supported_versions if present)
    ja3: str = ""  # the JA3 string (version,ciphers,extensions,curves,point formats)
    ja3_hash: str = ""  # md5 of ja3
    ja4: str = ""
    alpn: list[str] = []


class HttpRequestEvent(Event, tag="http_request"):
    method: str = ""
    uri: str = ""
    host: str = ""
    user_agent: str = ""
    basic_auth: bool = False  # an Authorization: Basic header was present (credentials never stored)
    basic_auth_user: str = ""


class SshBannerEvent(Event, tag="ssh_banner"):
    banner: str = ""
    from_server: bool = False


class CleartextLoginEvent(Event, tag="cleartext_login"):
    """A credential went over the wire in clear. The password itself is never recorded."""

    protocol: str = ""  # "ftp", "telnet", "pop3", "imap", "http_basic", "smtp"
    username: str = ""
    password_seen: bool = False


class KerberosEvent(Event, tag="kerberos"):
    msg_type: int = 0  # 10 AS-REQ, 11 AS-REP, 12 TGS-REQ, 13 TGS-REP, 30 KRB-ERROR
    requested_etypes: list[int] = []  # etypes the client offered (REQ)
    ticket_etype: int = 0  # etype of the ticket's enc-part (REP); 23 = RC4-HMAC
    service: str = ""  # sname, e.g. "HTTP/dc-mantvydas"
    realm: str = ""
    error_code: int = 0


class DhcpEvent(Event, tag="dhcp"):
    msg_type: int = 0  # 1 DISCOVER, 2 OFFER, 3 REQUEST, 5 ACK, 6 NAK ...
    client_mac: str = ""
    server_id: str = ""  # option 54
    offered_ip: str = ""  # yiaddr
    requested_ip: str = ""  # option 50
    xid: int = 0
    hostname: str = ""


class ArpEvent(Event, tag="arp"):
    op: int = 0  # 1 who-has, 2 is-at
    sender_mac: str = ""
    sender_ip: str = ""
    target_mac: str = ""
    target_ip: str = ""


class ModbusEvent(Event, tag="modbus"):
    function_code: int = 0
    unit_id: int = 0
    transaction_id: int = 0
    is_response: bool = False
    exception: bool = False


class Dnp3Event(Event, tag="dnp3"):
    function_code: int = 0  # application layer: 2 WRITE, 3 SELECT, 4 OPERATE, 5 DIRECT_OPERATE, 6 DIRECT_OPERATE_NR
    source_addr: int = 0
    dest_addr: int = 0
    is_response: bool = False


class BacnetEvent(Event, tag="bacnet"):
    service: int = 0  # confirmed service choice, 15 WriteProperty, 16 WritePropertyMultiple
    confirmed: bool = True
    is_response: bool = False


AnyEvent = (
    DnsEvent
    | TlsClientHelloEvent
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


class CaptureStats(msgspec.Struct, kw_only=True, omit_defaults=True):
    packets: int = 0
    bytes: int = 0
    decoded: int = 0
    malformed: int = 0
    fragments: int = 0
    kernel_drops: int = 0  # from PACKET_STATISTICS on live capture
    flows_evicted: int = 0  # flows pushed out by the memory cap


class Batch(msgspec.Struct, kw_only=True):
    """What one POST to the ingest endpoint carries. (agent_id, seq) is unique: the appliance drops repeats."""

    schema: int = SCHEMA_VERSION
    agent_id: str
    seq: int
    sent_at: float
    flows: list[Flow] = []
    events: list[AnyEvent] = []
    stats: CaptureStats = msgspec.field(default_factory=CaptureStats)  # packets since the previous batch


def encode_batch(batch: Batch) -> bytes:
    return msgspec.msgpack.encode(batch)


def decode_batch(data: bytes) -> Batch:
    return msgspec.msgpack.decode(data, type=Batch)
