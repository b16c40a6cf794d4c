"""SMB2/3 over direct TCP (port 445): the command sequence of opening, reading or writing one file."""

from __future__ import annotations

import random
import struct

from appliance.simulate.protocols import ntlm
from appliance.simulate.tcp import TcpConversation

NEGOTIATE, SESSION_SETUP, TREE_CONNECT, CREATE, CLOSE, READ, WRITE = 0, 1, 3, 5, 6, 8, 9
STATUS_MORE_PROCESSING_REQUIRED = 0xC0000016
STATUS_LOGON_FAILURE = 0xC000006D
_HEADER = struct.Struct("<4sHHIHHIIQIIQ16s")


def _header(command: int, message_id: int, session_id: int, tree_id: int, response: bool, status: int = 0) -> bytes:
    flags = 0x1 if response else 0
    return _HEADER.pack(
        b"\xfeSMB",
        64,
        1,
        status,
        command,
        1 if response else 31,
        flags,
        0,
        message_id,
        0xFEFF,
        tree_id,
        session_id,
        bytes(16),
    )


def _netbios(message: bytes) -> bytes:
    return b"\x00" + len(message).to_bytes(3, "big") + message


def negotiate_request(rng: random.Random) -> bytes:
    dialects = (0x0202, 0x0210, 0x0300, 0x0302)
    body = struct.pack("<HHHHI16sQ", 36, len(dialects), 1, 0, 0x7F, rng.randbytes(16), 0) + struct.pack(
        f"<{len(dialects)}H", *dialects
    )
    return body


def negotiate_response(rng: random.Random, now_filetime: int) -> bytes:
    return struct.pack(
        "<HHHH16sIIIIQQHHI",
        65,
        1,
        0x0302,
        0,
        rng.randbytes(16),
        0x2F,
        8388608,
        8388608,
        8388608,
        now_filetime,
        0,
        128,
        0,
        0,
    )


def session_setup_request(blob: bytes) -> bytes:
    return struct.pack("<HBBIIHHQ", 25, 0, 1, 1, 0, 64 + 24, len(blob), 0) + blob


def session_setup_response(blob: bytes) -> bytes:
    return struct.pack("<HHHH", 9, 0, 64 + 8, len(blob)) + blob


def tree_connect_request(path: str) -> bytes:
    raw = path.encode("utf-16-le")
    return struct.pack("<HHHH", 9, 0, 64 + 8, len(raw)) + raw


def tree_connect_response() -> bytes:
    return struct.pack("<HBBIII", 16, 1, 0, 0x800, 0, 0x001F01FF)


def create_request(filename: str, write: bool) -> bytes:
    raw = filename.encode("utf-16-le")
    access = 0x0012019F if write else 0x00120089
    disposition = 5 if write else 1  # overwrite-if : open
    return (
        struct.pack("<HBBIQQIIIIIHHII", 57, 0, 0, 2, 0, 0, access, 0x80, 7, disposition, 0x40, 64 + 56, len(raw), 0, 0)
        + raw
    )


def create_response(file_id: bytes, size: int, now_filetime: int) -> bytes:
    return struct.pack(
        "<HBBIQQQQQQII16sII",
        89,
        0,
        0,
        1,
        now_filetime,
        now_filetime,
        now_filetime,
        now_filetime,
        size,
        size,
        0x20,
        0,
        file_id,
        0,
        0,
    )


def read_request(file_id: bytes, offset: int, length: int) -> bytes:
    return struct.pack("<HBBIQ16sIIIHHB", 49, 0x50, 0, length, offset, file_id, 0, 0, 0, 0, 0, 0)


def read_response(data: bytes) -> bytes:
    return struct.pack("<HBBIII", 17, 64 + 16, 0, len(data), 0, 0) + data


def write_request(file_id: bytes, offset: int, data: bytes) -> bytes:
    return struct.pack("<HHIQ16sIIHHI", 49, 64 + 48, len(data), offset, file_id, 0, 0, 0, 0, 0) + data


def write_response(count: int) -> bytes:
    return struct.pack("<HHIIHH", 17, 0, count, 0, 0, 0)


def close_request(file_id: bytes) -> bytes:
    return struct.pack("<HHI16s", 24, 0, 0, file_id)


def close_response() -> bytes:
    return struct.pack("<HHIQQQQQQI", 60, 0, 0, 0, 0, 0, 0, 0, 0, 0)


class SmbClient:
    """Drives one SMB2 connection, numbering messages as a client does."""

    CHUNK = 65536

    def __init__(self, conv: TcpConversation, rng: random.Random, filetime: int) -> None:
        self.conv = conv
        self.rng = rng
        self.filetime = filetime
        self.message_id = 0
        self.session_id = 0
        self.tree_id = 0

    def call(self, command: int, request: bytes, response: bytes, status: int = 0, processing: float = 0.0005) -> None:
        header = _header(command, self.message_id, self.session_id, self.tree_id, False)
        self.conv.client_sends(_netbios(header + request))
        header = _header(command, self.message_id, self.session_id, self.tree_id, True, status)
        self.conv.server_sends(_netbios(header + response), processing=processing)
        self.message_id += 1

    def log_on(
        self, domain: str, dns_domain: str, user: str, workstation: str, server_name: str, succeed: bool = True
    ) -> bool:
        """Negotiate, then the two legs of an NTLM session setup inside SPNEGO."""
        rng = self.rng
        self.call(NEGOTIATE, negotiate_request(rng), negotiate_response(rng, self.filetime))
        info = ntlm.target_info(domain, server_name, dns_domain, self.filetime)
        self.call(
            SESSION_SETUP,
            session_setup_request(ntlm.spnego_init(ntlm.negotiate())),
            session_setup_response(ntlm.spnego_response(1, ntlm.challenge(rng, domain, info), None, offer_mech=True)),
            STATUS_MORE_PROCESSING_REQUIRED,
        )
        self.session_id = rng.getrandbits(63) | 1
        token = ntlm.authenticate(rng, domain, user, workstation, info, self.filetime)
        reply = ntlm.spnego_response(0, None, ntlm.message_signature(rng)) if succeed else b""
        self.call(
            SESSION_SETUP,
            session_setup_request(ntlm.spnego_response(None, token, ntlm.message_signature(rng))),
            session_setup_response(reply),
            0 if succeed else STATUS_LOGON_FAILURE,
            processing=0.003,
        )
        return succeed

    def transfer(self, share: str, filename: str, size: int, write: bool) -> None:
        self.call(TREE_CONNECT, tree_connect_request(share), tree_connect_response())
        self.tree_id = self.rng.randint(1, 0xFFFF)
        file_id = self.rng.randbytes(16)
        self.call(CREATE, create_request(filename, write), create_response(file_id, size, self.filetime))
        capture = self.conv.capture
        for offset in range(0, size, self.CHUNK):
            chunk = min(self.CHUNK, size - offset)
            data = capture.filler(chunk, offset + self.message_id)
            if write:
                self.call(WRITE, write_request(file_id, offset, data), write_response(chunk))
            else:
                self.call(READ, read_request(file_id, offset, chunk), read_response(data))
        self.call(CLOSE, close_request(file_id), close_response())


def filetime(unix_seconds: float) -> int:
    return int((unix_seconds + 11644473600) * 10_000_000)
