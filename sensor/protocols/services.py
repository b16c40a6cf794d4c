"""Which application protocol a flow speaks, from its first bytes, on any port (Zeek's dynamic protocol
detection is the model).

A wrong label is worse than none: every check wants structure that random bytes or another protocol hardly
ever have (a length field that matches the payload, a magic number, a grammar), never a port. Where one side's
first message is too weak alone (SOCKS greetings, Modbus requests, an FTP or SMTP "220" greeting that names
neither), it is a lead that the other side's first answer has to confirm.

UDP checks only run on flows the metadata extractor watches, i.e. on the protocols' own ports (UDP_PORTS):
there the port chose the flow and the content still has to match.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable
from typing import NamedTuple

from sensor.protocols.dns import read_name


class Verdict(NamedTuple):
    service: str
    # the payload came from the client (True), the server (False), or its content does not say (None)
    from_client: bool | None


class Lead(NamedTuple):
    """A first message that only the other side's answer can confirm."""

    confirm: Callable[[bytes], Verdict | None]


Check = Callable[[bytes, bool], "Verdict | Lead | None"]  # (payload, first payload of the flow)

# UDP services are checked on their ports only (the content must match there too).
UDP_PORTS = {53: "dns", 5353: "dns", 5355: "dns", 123: "ntp", 67: "dhcp", 68: "dhcp", 161: "snmp", 162: "snmp",
             443: "quic", 80: "quic", 8443: "quic", 5060: "sip", 88: "kerberos", 20000: "dnp3", 47808: "bacnet",
             389: "ldap"}  # connectionless LDAP: the domain controller locator's pings

# ---- text protocols --------------------------------------------------------------------------------

_HTTP_REQUEST = re.compile(rb"[A-Z][A-Z_-]{2,16} [^\s]{1,8192} HTTP/[0-9]\.[0-9]\r?\n")
_HTTP_RESPONSE = re.compile(rb"HTTP/[0-9]\.[0-9] [1-5][0-9]{2}[ \r\n]")
_SIP_REQUEST = re.compile(rb"[A-Z]{3,10} sips?:[^\s]{1,1024} SIP/2\.0\r?\n")
_SIP_RESPONSE = re.compile(rb"SIP/2\.0 [1-6][0-9]{2} ")
_SSH = re.compile(rb"SSH-(?:1\.[0-9]{1,2}|2\.0)-[\x21-\x7e]")
_RFB = re.compile(rb"RFB [0-9]{3}\.[0-9]{3}\n")
_SMTP_CLIENT = re.compile(rb"(?i:EHLO|HELO) [\x21-\x7e]{1,255}\r?\n")
# a client line among its first ones: registration (NICK, USER with its real name, CAP LS) or, mid-session, a
# message or a join
_IRC_CLIENT = re.compile(rb"^(?:NICK [^\s:]{1,64}|USER [^\s]+ [^\s]+ [^\s]+ :[^\r\n]*|CAP LS(?: 302)?"
                         rb"|(?:PRIVMSG|NOTICE) [^\s:]{1,64} :[^\r\n]*|JOIN [#&][^\s,]{1,64}[^\r\n]*)\r?\n", re.M)
IRC_CLIENT_LINES = 3
# a server line: ":prefix NOTICE ..." or ":prefix <3-digit numeric> ...", or the old "NOTICE AUTH :"
_IRC_SERVER = re.compile(rb"(?::[^\s]{1,255} (?:NOTICE |[0-9]{3} )|NOTICE AUTH :)[^\r\n]*\r?\n")
_IMAP_GREETING = re.compile(rb"\* (?:OK|PREAUTH|BYE)[ \[]")
_GREETING_220 = re.compile(rb"220[ -]")
FTP_COMMANDS = frozenset((b"USER", b"AUTH", b"FEAT", b"SYST", b"OPTS", b"PASV", b"EPSV", b"PWD", b"TYPE",
                          b"LIST", b"NLST", b"RETR", b"STOR", b"CWD", b"QUIT", b"PORT", b"EPRT", b"SITE"))
SMTP_COMMANDS = frozenset((b"EHLO", b"HELO", b"LHLO", b"STARTTLS", b"MAIL"))


def _ssh(payload: bytes, _first: bool) -> Verdict | None:
    if _SSH.match(payload):
        return Verdict("ssh", None)
    # a server may send other lines before its version line (RFC 4253 4.2)
    at = payload.find(b"\nSSH-", 0, 1024)
    if at >= 0 and _SSH.match(payload, at + 1):
        return Verdict("ssh", False)
    return None


def _http_or_sip(payload: bytes, _first: bool) -> Verdict | None:
    if _SIP_REQUEST.match(payload):
        return Verdict("sip", True)
    if _HTTP_REQUEST.match(payload) or payload.startswith(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"):
        return Verdict("http", True)
    return None


def _response_line(payload: bytes, _first: bool) -> Verdict | None:
    if _HTTP_RESPONSE.match(payload):
        return Verdict("http", False)
    if _SIP_RESPONSE.match(payload):
        return Verdict("sip", False)
    return None


def _rfb(payload: bytes, _first: bool) -> Verdict | None:
    return Verdict("vnc", None) if _RFB.fullmatch(payload) else None


def _greeting_220(payload: bytes, first: bool) -> Verdict | Lead | None:
    """FTP and SMTP servers both greet with 220: the text or the client's first command tells them apart."""
    if not first or not _GREETING_220.match(payload) or not payload.endswith(b"\n"):
        return None
    text = payload.upper()
    if b"SMTP" in text:
        return Verdict("smtp", False)
    if b"FTP" in text:
        return Verdict("ftp", False)

    def confirm(answer: bytes) -> Verdict | None:
        command = answer.split(b" ", 1)[0].split(b"\r", 1)[0].split(b"\n", 1)[0].upper()
        if not answer.endswith(b"\n"):
            return None
        if command in FTP_COMMANDS:
            return Verdict("ftp", True)
        if command in SMTP_COMMANDS:
            return Verdict("smtp", True)
        return None

    return Lead(confirm)


def _smtp_client(payload: bytes, _first: bool) -> Verdict | None:
    return Verdict("smtp", True) if _SMTP_CLIENT.fullmatch(payload) else None


def _pop3(payload: bytes, first: bool) -> Verdict | None:
    """A greeting with some text after "+OK" (a bare "+OK" is also what Redis answers)."""
    ok = first and payload.startswith(b"+OK ") and len(payload.strip()) > 6 and payload.endswith(b"\n")
    return Verdict("pop3", False) if ok else None


def _imap(payload: bytes, first: bool) -> Verdict | None:
    ok = first and _IMAP_GREETING.match(payload) is not None and payload.endswith(b"\n")
    return Verdict("imap", False) if ok else None


def _irc(payload: bytes, _first: bool) -> Verdict | None:
    if _IRC_SERVER.match(payload):
        return Verdict("irc", False)
    head = b"\n".join(payload[:1024].split(b"\n", IRC_CLIENT_LINES)[:IRC_CLIENT_LINES])
    if payload[:1].isalpha() and _IRC_CLIENT.search(head + b"\n"):
        return Verdict("irc", True)
    return None


TELNET_IAC = 0xFF
_TELNET_NEGOTIATION = range(0xFB, 0xFF)  # WILL WONT DO DONT


def _telnet(payload: bytes, _first: bool) -> Verdict | None:
    """Option negotiation first: IAC WILL/WONT/DO/DONT <option>, and every IAC after it well formed; at least two
    commands unless the payload is that one negotiation."""
    if len(payload) < 3 or payload[1] not in _TELNET_NEGOTIATION or (payload[2] > 50 and payload[2] != 255):
        return None
    if len(payload) > 3 and payload.count(TELNET_IAC, 3) == 0:
        return None
    pos = 0
    while pos < len(payload):
        if payload[pos] != TELNET_IAC:
            pos += 1
            continue
        if pos + 1 >= len(payload):
            return None
        command = payload[pos + 1]
        if command in _TELNET_NEGOTIATION:
            if pos + 2 >= len(payload):
                return None
            pos += 3
        elif command == 0xFA:  # subnegotiation, up to IAC SE
            end = payload.find(b"\xff\xf0", pos + 2)
            if end < 0:
                return None
            pos = end + 2
        elif command >= 0xF0:
            pos += 2
        else:
            return None
    return Verdict("telnet", None)


# ---- binary protocols ------------------------------------------------------------------------------

def _tls(payload: bytes, _first: bool) -> Verdict | None:
    """A handshake record (TLS 1.0-1.3) starting with a ClientHello or a ServerHello."""
    if len(payload) < 11 or payload[1] != 3 or payload[2] > 4 or payload[9] != 3:
        return _tls_records(payload)
    record = (payload[3] << 8) | payload[4]
    message = int.from_bytes(payload[6:9], "big")
    if record < 4 or message < 38:
        return None
    if payload[5] == 1:
        return Verdict("tls", True)
    if payload[5] == 2:
        return Verdict("tls", False)
    return None


MAX_TLS_RECORD = 16384 + 2048


def _tls_records(payload: bytes, _first: bool = False) -> Verdict | None:
    """TLS records that exactly fill the payload (a session that was under way before the capture): content type
    change_cipher_spec, alert, handshake or application_data, version 3.1-3.4, a length within the limit."""
    pos = 0
    while pos + 5 <= len(payload):
        if not 20 <= payload[pos] <= 23 or payload[pos + 1] != 3 or not 1 <= payload[pos + 2] <= 4:
            return None
        length = (payload[pos + 3] << 8) | payload[pos + 4]
        if not 0 < length <= MAX_TLS_RECORD:
            return None
        pos += 5 + length
    return Verdict("tls", None) if pos == len(payload) else None


def _sslv2_hello(payload: bytes, _first: bool) -> Verdict | None:
    """An SSLv2-format CLIENT-HELLO (a 2-byte header with the high bit set) offering SSL 2, SSL 3 or TLS."""
    if len(payload) < 11 or ((payload[0] & 0x7F) << 8 | payload[1]) != len(payload) - 2 or payload[2] != 1:
        return None
    return Verdict("tls", True) if payload[3:5] in (b"\x00\x02", b"\x03\x00", b"\x03\x01", b"\x03\x02",
                                                     b"\x03\x03") else None


def _smb(payload: bytes, _first: bool) -> Verdict | None:
    """NetBIOS session message (or the same framing on 445) carrying an SMB1, SMB2/3 or encrypted SMB3 header."""
    if len(payload) < 8 or int.from_bytes(payload[1:4], "big") < 32:
        return None
    magic = payload[4:8]
    if magic == b"\xffSMB" and len(payload) >= 14:
        return Verdict("smb", not payload[13] & 0x80)
    if magic == b"\xfeSMB" and len(payload) >= 24 and payload[8:10] == b"\x40\x00":  # structure size 64
        return Verdict("smb", not payload[20] & 0x01)
    if magic == b"\xfdSMB":
        return Verdict("smb", None)
    return None


def _tpkt_x224(payload: bytes) -> tuple[int, bytes] | None:
    """(X.224 TPDU code, variable part) of a TPKT carrying one connection request / confirm."""
    if len(payload) < 11 or payload[1] != 0 or (payload[2] << 8 | payload[3]) != len(payload):
        return None
    if payload[4] != len(payload) - 5:
        return None
    return payload[5] & 0xF0, payload[11:]


def _rdp(payload: bytes, _first: bool) -> Verdict | None:
    """X.224 connection request / confirm as RDP sends them: a cookie, a routing token or an RDP negotiation
    structure (8 bytes), nothing else (ISO-TSAP users such as S7 put TSAP parameters there)."""
    tpdu = _tpkt_x224(payload)
    if tpdu is None:
        return None
    code, rest = tpdu
    if code == 0xE0:
        negotiation = rest[-8:] if len(rest) >= 8 and rest[-8] == 1 and rest[-6:-4] == b"\x08\x00" else b""
        text = rest[: len(rest) - len(negotiation)]
        if text == b"" or (text.startswith((b"Cookie: mstshash=", b"Cookie: msts=")) and text.endswith(b"\r\n")):
            return Verdict("rdp", True) if text or negotiation else None
        return None
    if code == 0xD0 and len(rest) == 8 and rest[0] in (2, 3) and rest[2:4] == b"\x08\x00":
        return Verdict("rdp", False)
    return None


def _mysql(payload: bytes, first: bool) -> Verdict | None:
    """The server's greeting (protocol 10, a printable version string), or its error greeting."""
    if not first or len(payload) < 9 or payload[3] != 0:
        return None
    if int.from_bytes(payload[:3], "little") + 4 != len(payload):
        return None
    if payload[4] == 10:
        end = payload.find(b"\0", 5, 5 + 64)
        version = payload[5:end]
        if end > 5 and version[:1].isdigit() and version.isascii() and version.decode().isprintable():
            return Verdict("mysql", False)
    elif payload[4] == 0xFF and len(payload) > 8:
        message = payload[7:]
        if message.isascii() and message.decode().isprintable():
            return Verdict("mysql", False)
    return None


_PG_SSL, _PG_GSSENC, _PG_CANCEL, _PG_V3 = 80877103, 80877104, 80877102, 196608


def _postgresql(payload: bytes, _first: bool) -> Verdict | None:
    """The client's startup packet: SSLRequest, GSSENCRequest, CancelRequest or a v3 StartupMessage."""
    if len(payload) < 8 or int.from_bytes(payload[:4], "big") != len(payload):
        return None
    code = int.from_bytes(payload[4:8], "big")
    if (code in (_PG_SSL, _PG_GSSENC) and len(payload) == 8) or (code == _PG_CANCEL and len(payload) == 16):
        return Verdict("postgresql", True)
    if code == _PG_V3 and payload.endswith(b"\0\0") and (payload[8:].startswith(b"user\0") or b"\0user\0" in payload):
        return Verdict("postgresql", True)
    return None


_TDS_PRELOGIN, _TDS_REPLY = 0x12, 0x04


def _mssql(payload: bytes, _first: bool) -> Verdict | None:
    """A TDS PRELOGIN packet: header with the right length, then option tokens (VERSION first) that point
    inside the packet, ended by 0xFF."""
    if len(payload) < 14 or payload[0] != _TDS_PRELOGIN or payload[1] not in (0, 1) or payload[7] != 0:
        return None
    if (payload[2] << 8 | payload[3]) != len(payload) or payload[8] != 0:
        return None
    data_length = len(payload) - 8
    pos = 8
    while pos < len(payload) and payload[pos] != 0xFF:
        if payload[pos] > 8 or pos + 5 > len(payload):
            return None
        offset, length = struct.unpack_from("!HH", payload, pos + 1)
        if offset + length > data_length:
            return None
        pos += 5
    return Verdict("mssql", True) if pos < len(payload) else None


_REDIS_COMMAND = re.compile(rb"\*([1-9][0-9]{0,5})\r\n\$([1-9][0-9]{0,8})\r\n")


def _redis(payload: bytes, _first: bool) -> Verdict | None:
    """A RESP array of bulk strings whose first element (the command) is a word of letters."""
    match = _REDIS_COMMAND.match(payload)
    if match is None:
        return None
    length = int(match.group(2))
    command = payload[match.end() : match.end() + length]
    terminated = payload[match.end() + length : match.end() + length + 2] == b"\r\n"
    return Verdict("redis", True) if length <= 32 and terminated and command.isalpha() else None


def ber_length(data: bytes, pos: int) -> tuple[int, int] | None:
    """(length, position of the contents) of the BER length at `pos` (definite form, at most 4 bytes)."""
    if pos >= len(data):
        return None
    first = data[pos]
    if first < 0x80:
        return first, pos + 1
    count = first & 0x7F
    if not 1 <= count <= 4 or pos + 1 + count > len(data):
        return None
    return int.from_bytes(data[pos + 1 : pos + 1 + count], "big"), pos + 1 + count


_LDAP_REQUESTS = frozenset((0x60, 0x42, 0x63, 0x66, 0x68, 0x4A, 0x6C, 0x6E, 0x50, 0x77))
_LDAP_RESPONSES = frozenset((0x61, 0x64, 0x65, 0x73, 0x67, 0x69, 0x6B, 0x6D, 0x6F, 0x78, 0x79))


def ldap_message(payload: bytes) -> tuple[int, int, int] | None:
    """(message id, protocolOp tag, position of the op's contents) of the LDAPMessage at the payload's start."""
    if len(payload) < 7 or payload[0] != 0x30:
        return None
    outer = ber_length(payload, 1)
    if outer is None or payload[outer[1] : outer[1] + 1] != b"\x02":
        return None
    id_length = ber_length(payload, outer[1] + 1)
    if id_length is None or not 1 <= id_length[0] <= 4:
        return None
    tag_at = id_length[1] + id_length[0]
    if tag_at >= len(payload):
        return None
    op = ber_length(payload, tag_at + 1)
    if op is None or op[1] + op[0] > outer[1] + outer[0]:
        return None
    return int.from_bytes(payload[id_length[1] : tag_at], "big"), payload[tag_at], op[1]


_LDAP_RESULTS = frozenset((0x61, 0x65, 0x67, 0x69, 0x6B, 0x6D, 0x6F, 0x78))  # ops that start with an LDAPResult


def _ldap(payload: bytes, _first: bool) -> Verdict | None:
    """An LDAPMessage: SEQUENCE { messageID INTEGER, protocolOp [APPLICATION n] } with the op's own start checked:
    a bind's version (2 or 3), a search's base DN, a result's resultCode."""
    message = ldap_message(payload)
    if message is None:
        return None
    _msgid, tag, at = message
    if tag == 0x60:
        return Verdict("ldap", True) if payload[at : at + 3] in (b"\x02\x01\x03", b"\x02\x01\x02") else None
    if tag == 0x63:
        return Verdict("ldap", True) if payload[at : at + 1] == b"\x04" else None
    if tag in _LDAP_REQUESTS:
        return Verdict("ldap", True)
    if tag in _LDAP_RESULTS:
        return Verdict("ldap", False) if payload[at : at + 2] == b"\x0a\x01" else None
    if tag in _LDAP_RESPONSES:
        return Verdict("ldap", False)
    return None


MAX_KERBEROS_TCP = 1 << 20
_KERBEROS_REQUESTS = frozenset((0x6A, 0x6C))  # [APPLICATION 10] AS-REQ, [APPLICATION 12] TGS-REQ
_KERBEROS_REPLIES = frozenset((0x6B, 0x6D, 0x7E))  # AS-REP, TGS-REP, KRB-ERROR


def _kerberos_message(message: bytes) -> Verdict | None:
    if len(message) < 4 or (message[0] not in _KERBEROS_REQUESTS and message[0] not in _KERBEROS_REPLIES):
        return None
    length = ber_length(message, 1)
    if length is None or length[1] + length[0] < len(message) or message[length[1]: length[1] + 1] != b"\x30":
        return None
    return Verdict("kerberos", message[0] in _KERBEROS_REQUESTS)


def _kerberos_tcp(payload: bytes, _first: bool) -> Verdict | None:
    declared = int.from_bytes(payload[:4], "big")
    if len(payload) < 8 or not len(payload) - 4 <= declared <= MAX_KERBEROS_TCP:
        return None
    return _kerberos_message(payload[4:])


def _dns_message(message: bytes) -> Verdict | None:
    if len(message) < 17:
        return None
    flags, qdcount, ancount = struct.unpack_from("!HHH", message, 2)
    is_response = bool(flags & 0x8000)
    if (flags >> 11) & 0xF not in (0, 1, 2, 4, 5) or qdcount > 4 or not (qdcount or (is_response and ancount)):
        return None
    name = read_name(message, 12)
    if name is None or name[1] + 4 > len(message):
        return None
    return Verdict("dns", not is_response)


def _dns_tcp(payload: bytes, _first: bool) -> Verdict | None:
    """One whole message behind its 2-byte length (how clients send their queries)."""
    if len(payload) < 19 or int.from_bytes(payload[:2], "big") != len(payload) - 2:
        return None
    return _dns_message(payload[2:])


def _mongodb(payload: bytes, _first: bool) -> Verdict | None:
    """A request header (length, id, responseTo 0, OP_MSG / OP_QUERY / OP_COMPRESSED) with a sane body."""
    if len(payload) < 21:
        return None
    length, _request, response_to, opcode = struct.unpack_from("<iiii", payload)
    if length != len(payload) or response_to != 0:
        return None
    if opcode == 2013:  # OP_MSG: flag bits (only 3 defined, bit 16 reserved), then a section kind 0 or 1
        flags = int.from_bytes(payload[16:20], "little")
        return Verdict("mongodb", True) if flags & ~0x10003 == 0 and payload[20] in (0, 1) else None
    if opcode == 2004:  # OP_QUERY: flags, then "db.collection\0"
        end = payload.find(b"\0", 20, 20 + 256)
        name = payload[20:end]
        return Verdict("mongodb", True) if end > 20 and b"." in name and name.isascii() else None
    if opcode == 2012 and len(payload) >= 25:  # OP_COMPRESSED of an OP_MSG or OP_QUERY
        original = int.from_bytes(payload[16:20], "little")
        return Verdict("mongodb", True) if original in (2013, 2004) and payload[24] <= 3 else None
    return None


_DCERPC_REQUESTS = frozenset((0, 11, 14))  # request, bind, alter_context
_DCERPC_REPLIES = frozenset((2, 3, 12, 13, 15))  # response, fault, bind_ack, bind_nak, alter_context_resp


def _dcerpc(payload: bytes, _first: bool) -> Verdict | None:
    """A connection-oriented DCE/RPC PDU header (version 5.0/5.1) whose fragment length fits."""
    if len(payload) < 16 or payload[0] != 5 or payload[1] not in (0, 1) or payload[4] not in (0x10, 0x00):
        return None
    order = "little" if payload[4] == 0x10 else "big"
    fragment = int.from_bytes(payload[8:10], order)
    auth = int.from_bytes(payload[10:12], order)
    if fragment < 16 or auth > fragment or (fragment != len(payload) and not (fragment > len(payload)
                                                                             and payload[3] & 0x01)):
        return None
    if payload[2] in _DCERPC_REQUESTS:
        return Verdict("dcerpc", True)
    if payload[2] in _DCERPC_REPLIES:
        return Verdict("dcerpc", False)
    return None


def _socks(payload: bytes, _first: bool) -> Lead | None:
    """A SOCKS 5 method offer or a SOCKS 4 request: confirmed only by the proxy's answer."""
    if payload[0] == 5 and len(payload) >= 3 and payload[1] == len(payload) - 2:
        methods = set(payload[2:])
        if all(m <= 3 or 0x80 <= m <= 0xFE for m in methods):
            return Lead(lambda answer: Verdict("socks", False) if len(answer) == 2 and answer[0] == 5 and (
                answer[1] in methods or answer[1] == 0xFF) else None)
    if payload[0] == 4 and len(payload) >= 9 and payload[1] in (1, 2) and payload[-1] == 0:
        return Lead(lambda answer: Verdict("socks", False) if len(answer) == 8 and answer[0] == 0 and (
            0x5A <= answer[1] <= 0x5D) else None)
    return None


REDIS_INLINE_COMMANDS = frozenset((
    b"PING", b"AUTH", b"HELLO", b"INFO", b"SELECT", b"GET", b"SET", b"DEL", b"EXISTS", b"KEYS", b"SCAN", b"INCR",
    b"EXPIRE", b"TTL", b"LPUSH", b"RPUSH", b"HGET", b"HSET", b"PUBLISH", b"SUBSCRIBE", b"PSUBSCRIBE", b"CONFIG",
    b"CLIENT", b"MONITOR", b"DBSIZE", b"FLUSHALL", b"FLUSHDB", b"SAVE", b"SLAVEOF", b"REPLICAOF", b"MODULE", b"EVAL"))


def _redis_inline(payload: bytes, _first: bool) -> Lead | None:
    """Redis commands typed inline ("PING", "AUTH secret"): a RESP answer to each must confirm them."""
    lines = payload.split(b"\r\n")
    if len(lines) < 2 or lines[-1] or not all(line.split(b" ", 1)[0].upper() in REDIS_INLINE_COMMANDS
                                             for line in lines[:-1]):
        return None

    def confirm(answer: bytes) -> Verdict | None:
        resp = answer[:1] in (b"+", b"-", b":", b"$", b"*") and answer.endswith(b"\r\n")
        return Verdict("redis", False) if resp and not answer.startswith(b"+OK ") else None

    return Lead(confirm)


_MBAP = struct.Struct("!HHHBB")  # transaction, protocol 0, length, unit, function


def _modbus(payload: bytes, _first: bool) -> Lead | None:
    """A Modbus/TCP request; the answer must echo its transaction, unit and function (or its exception)."""
    if len(payload) < 8:
        return None
    transaction, protocol, length, unit, function = _MBAP.unpack_from(payload)
    if protocol != 0 or length != len(payload) - 6 or not 2 <= length <= 254 or not 1 <= function <= 127:
        return None

    def confirm(answer: bytes) -> Verdict | None:
        if len(answer) < 9:
            return None
        t, p, n, u, f = _MBAP.unpack_from(answer)
        same = (t, p, u) == (transaction, 0, unit) and f in (function, function | 0x80)
        return Verdict("modbus", False) if same and n == len(answer) - 6 else None

    return Lead(confirm)


def _dnp3_crc(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc = _DNP3_CRC_TABLE[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return ~crc & 0xFFFF


def _dnp3_table() -> list[int]:
    table = []
    for value in range(256):
        crc = value
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA6BC if crc & 1 else crc >> 1  # CRC-16/DNP, reflected polynomial 0x3D65
        table.append(crc)
    return table


_DNP3_CRC_TABLE = _dnp3_table()


def _dnp3(payload: bytes, _first: bool) -> Verdict | None:
    """A DNP3 link frame: start bytes, a length of at least 5 and the header's CRC."""
    if len(payload) < 10 or payload[1] != 0x64 or payload[2] < 5:
        return None
    if _dnp3_crc(payload[:8]) != int.from_bytes(payload[8:10], "little"):
        return None
    return Verdict("dnp3", bool(payload[3] & 0x80))  # DIR: sent by the master


# ---- UDP-only checks ---------------------------------------------------------------------------------

_QUIC_VERSIONS = frozenset((0x00000001, 0x6B3343CF, 0x709A50C4))  # v1, v2, v2 draft


def _quic(payload: bytes, _first: bool) -> Verdict | None:
    """An IETF QUIC long header (known version, connection ids within limits) or a Google QUIC public header."""
    if len(payload) >= 7 and payload[0] & 0xC0 == 0xC0:
        version = int.from_bytes(payload[1:5], "big")
        known = version in _QUIC_VERSIONS or version >> 8 == 0xFF0000 or version & 0x0F0F0F0F == 0x0A0A0A0A
        if not known and version != 0:
            return None
        dcid = payload[5]
        if dcid > 20 or 6 + dcid >= len(payload) or payload[6 + dcid] > 20:
            return None
        if version == 0:
            return Verdict("quic", False)  # version negotiation
        if (payload[0] >> 4) & 3 == 0 and len(payload) >= 1200:
            return Verdict("quic", True)  # a client's Initial is padded to 1200 bytes
        return Verdict("quic", None)
    if len(payload) >= 13 and payload[0] & 0x81 == 0x01 and payload[0] & 0x0C and payload[9:10] in (b"Q", b"T"):
        return Verdict("quic", True) if payload[10:13].isdigit() else None
    return None


def _ntp_length(payload: bytes) -> bool:
    """48 bytes, then a MAC (key id and a 16 or 20-byte digest) or NTPv4 extension fields (4-byte aligned)."""
    extra = len(payload) - 48
    if extra in (0, 20, 24):
        return True
    if extra < 16 or extra % 4:
        return False
    field = int.from_bytes(payload[50:52], "big")
    return 16 <= field <= extra and field % 4 == 0


def _ntp(payload: bytes, _first: bool) -> Verdict | None:
    version, mode = (payload[0] >> 3) & 7, payload[0] & 7
    if not 1 <= version <= 4:
        return None
    if 1 <= mode <= 5 and len(payload) >= 48 and payload[1] <= 16 and _ntp_length(payload):
        return Verdict("ntp", True if mode == 3 else False if mode == 4 else None)
    control_data = len(payload) - 12 - int.from_bytes(payload[10:12], "big")  # mode 6: count = bytes of data
    if mode == 6 and len(payload) >= 12 and 1 <= payload[1] & 0x1F <= 31 and 0 <= control_data < 32:
        return Verdict("ntp", not payload[1] & 0x80)
    if mode == 7 and len(payload) >= 8 and payload[2] in (0, 2, 3) and payload[3] < 64:  # private (ntpdc)
        return Verdict("ntp", not payload[0] & 0x80)
    return None


def _dhcp(payload: bytes, _first: bool) -> Verdict | None:
    ok = len(payload) >= 240 and payload[0] in (1, 2) and payload[1:3] == b"\x01\x06"
    return Verdict("dhcp", payload[0] == 1) if ok and payload[236:240] == b"\x63\x82\x53\x63" else None


def _snmp(payload: bytes, _first: bool) -> Verdict | None:
    outer = ber_length(payload, 1) if payload[0] == 0x30 else None
    if outer is None or outer[1] + outer[0] != len(payload) or payload[outer[1]: outer[1] + 2] != b"\x02\x01":
        return None
    version_at = outer[1] + 2
    version = payload[version_at] if version_at < len(payload) else -1
    if version == 3:
        return Verdict("snmp", None) if payload[version_at + 1 : version_at + 2] == b"\x30" else None
    if version not in (0, 1) or payload[version_at + 1 : version_at + 2] != b"\x04":
        return None
    community = ber_length(payload, version_at + 2)
    if community is None:
        return None
    pdu_at = community[1] + community[0]
    pdu = payload[pdu_at] if pdu_at < len(payload) else -1
    if not 0xA0 <= pdu <= 0xA8:
        return None
    return Verdict("snmp", pdu != 0xA2)


def _bacnet(payload: bytes, _first: bool) -> Verdict | None:
    if len(payload) < 6 or payload[0] != 0x81 or payload[1] > 0x0C or int.from_bytes(payload[2:4], "big") != len(
            payload):
        return None
    npdu_at = {0x0A: 4, 0x0B: 4, 0x04: 10}.get(payload[1])
    if npdu_at is not None and payload[npdu_at : npdu_at + 1] != b"\x01":
        return None
    return Verdict("bacnet", None)


def _kerberos_udp(payload: bytes, _first: bool) -> Verdict | None:
    return _kerberos_message(payload)


def _dns_udp(payload: bytes, _first: bool) -> Verdict | None:
    return _dns_message(payload)


def _sip_udp(payload: bytes, first: bool) -> Verdict | None:
    verdict = _http_or_sip(payload, first) or _response_line(payload, first)
    return verdict if verdict is not None and verdict.service == "sip" else None


# ---- dispatch ------------------------------------------------------------------------------------------

def _by_first_byte(checks: dict[bytes | None, tuple[Check, ...]]) -> tuple[tuple[Check, ...], ...]:
    """A table of the checks worth trying for each first byte; None keys apply to any first byte."""
    anywhere = checks.get(None, ())
    table = []
    for byte in range(256):
        specific = tuple(check for first, group in checks.items() if first is not None and byte in first
                         for check in group)
        table.append(specific + anywhere)
    return tuple(table)


_LETTERS = bytes(range(ord("A"), ord("Z") + 1)) + bytes(range(ord("a"), ord("z") + 1))
_TCP_CHECKS = _by_first_byte({
    _LETTERS: (_http_or_sip, _irc, _smtp_client, _redis_inline),
    bytes(range(0x80, 0x100)): (_sslv2_hello,),
    b"\x14\x15\x17": (_tls_records,),
    b"S": (_ssh, _response_line),
    b"H": (_response_line,),
    b"R": (_rfb,),
    b"2": (_greeting_220,),
    b"+": (_pop3,),
    b"*": (_imap, _redis),
    b":": (_irc,),
    b"\x16": (_tls,),
    b"\x00": (_smb, _postgresql, _kerberos_tcp),
    b"\x03": (_rdp,),
    b"\x05": (_dnp3, _dcerpc, _socks),
    b"\x04": (_socks,),
    b"\x12": (_mssql,),
    b"\x30": (_ldap,),
    b"\xff": (_telnet,),
    None: (_mysql, _mongodb, _modbus, _dns_tcp),
})
_UDP_CHECKS = {"dns": _dns_udp, "ntp": _ntp, "dhcp": _dhcp, "snmp": _snmp, "quic": _quic, "sip": _sip_udp,
               "kerberos": _kerberos_udp, "dnp3": _dnp3, "bacnet": _bacnet, "ldap": _ldap}


def identify(proto: str, payload: bytes, first: bool, src_port: int = 0, dst_port: int = 0) -> Verdict | Lead | None:
    """What `payload` (a side's first bytes) says about its flow's service. `first`: this side spoke first, so
    the payload may be a server's greeting. UDP payloads are checked against the services of their ports only."""
    if not payload:
        return None
    if proto == "TCP":
        for check in _TCP_CHECKS[payload[0]]:
            verdict = check(payload, first)
            if verdict is not None:
                return verdict
        return None
    if proto == "UDP":
        for port in (dst_port, src_port):
            service = UDP_PORTS.get(port)
            if service is not None and (verdict := _UDP_CHECKS[service](payload, first)) is not None:
                return verdict
    return None
