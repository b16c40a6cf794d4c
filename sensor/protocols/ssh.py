"""SSH: identification banners ("SSH-2.0-OpenSSH_9.6") from either side, and login attempts inferred from the
sizes of the encrypted packets that follow the key exchange, as Zeek's SSH analyser does.

The key exchange is in clear: its binary packets (length, padding length, message code) are walked on each
side until that side's NEWKEYS, which also tells the client (KEXDH_INIT, GEX_REQUEST ...) from the server
(KEXDH_REPLY ...). After NEWKEYS each side's segments are encrypted, and in the user authentication phase each
message travels in a segment of its own. Once the client has sent encrypted data, the server's segments say:

- the first one is SERVICE_ACCEPT (size A);
- USERAUTH_SUCCESS carries one byte of payload where SERVICE_ACCEPT carries 17 ("ssh-userauth" and its
  length, padding to the same block): a segment of size A - 16 is a successful login;
- the next one (skipping a pre-authentication banner, more than 256 bytes larger) is USERAUTH_FAILURE (size F),
  the answer to the client's "none" probe for the methods it may use, which is no guess yet;
- every further segment of size F is a failed attempt (the list of methods, hence F, does not change).

So a connection shows each guess: guessing tools try 3-6 passwords per connection. The first failure is taken
for the answer to the "none" probe, which OpenSSH, libssh (hydra) and paramiko clients all send first.
"""

from __future__ import annotations

import re

from sensor.protocols.auth_ledger import AuthLedger
from sensor.protocols.extractor import PacketContext, PortBasedExtractor
from sensor.protocols.flow_state import BoundedFlowState
from sensor.protocols.text import printable
from sensor.records import Event, SshBannerEvent

MAX_BANNER = 255  # RFC 4253 4.2 limit, CR LF included
MAX_SESSIONS = 16384
MAX_PACKET = 256 * 1024  # RFC 4253 6.1: implementations must handle 35000; anything this large is not SSH
MAX_AUTH_SEGMENTS = 256
MAX_PAYLOADS_WITHOUT_BANNER = 4  # server segments after which a session still undecided is left alone
MSG_NEWKEYS = 21
CLIENT_KEX_MESSAGES = frozenset((30, 32, 34))  # KEXDH_INIT / KEX_ECDH_INIT / GEX_REQUEST_OLD, GEX_INIT, GEX_REQUEST
SERVER_KEX_MESSAGES = frozenset((31, 33))  # KEXDH_REPLY / GEX_GROUP, GEX_REPLY
SUCCESS_SHRINK = 16  # SERVICE_ACCEPT minus USERAUTH_SUCCESS, padded (see above)
BANNER_GROWTH = 256
_SSH1 = re.compile(rb"SSH-1\.(?!99)")


class _Side:
    """One direction of the clear-text part: where its binary packets are, whether it sent NEWKEYS."""

    __slots__ = ("banner_seen", "encrypted", "header", "skip")

    def __init__(self) -> None:
        self.banner_seen = False
        self.header = b""  # the start of a packet header split across segments
        self.skip = 0  # bytes of the current packet still to come
        self.encrypted = False


class _Session:
    __slots__ = ("accept_size", "banner_skipped", "client_is_orig", "decided", "failure_size", "orig", "resp",
                 "saw_client_data", "server_segments", "without_banner")

    def __init__(self) -> None:
        self.orig, self.resp = _Side(), _Side()
        self.client_is_orig: bool | None = None
        self.saw_client_data = False
        self.accept_size = 0
        self.failure_size = 0
        self.banner_skipped = False
        self.server_segments = 0
        self.without_banner = 0  # payloads before the version lines: a flow that shows none is no SSH
        self.decided = False  # a login succeeded, or the session is no SSH-2 that the sizes can be read from


class SshExtractor(PortBasedExtractor):
    tcp_ports = frozenset((22, 2222))

    def __init__(self, ledger: AuthLedger | None = None) -> None:
        self.ledger = ledger or AuthLedger()
        self._sessions: BoundedFlowState[_Session] = BoundedFlowState(MAX_SESSIONS)

    def follows(self, flow_uid: str) -> bool:
        session = self._sessions.get(flow_uid)
        return session is None or not session.decided

    def on_payload(self, ctx: PacketContext, payload: bytes) -> list[Event]:
        session = self._sessions.get(ctx.flow_uid)
        if session is None:
            session = _Session()
            self._sessions.put(ctx.flow_uid, session)
        if not session.decided:
            self._follow(session, ctx.flow_uid, ctx.from_orig, payload)
        if not payload.startswith(b"SSH-"):
            return []
        line_end = payload.find(b"\n", 0, MAX_BANNER)
        banner = payload[: line_end if line_end >= 0 else MAX_BANNER].rstrip(b"\r")
        return [ctx.event(SshBannerEvent, banner=printable(banner), from_server=self._from_server(ctx))]

    def _from_server(self, ctx: PacketContext) -> bool:
        if ctx.src_port in self.tcp_ports:
            return True
        if ctx.dst_port in self.tcp_ports:
            return False
        return ctx.src_port < ctx.dst_port  # off the usual ports, the client is the one on the ephemeral port

    def _follow(self, session: _Session, flow_uid: str, from_orig: bool, payload: bytes) -> None:
        side = session.orig if from_orig else session.resp
        if side.encrypted:
            self._encrypted(session, flow_uid, from_orig, len(payload))
            return
        encrypted = self._clear_text(session, side, from_orig, payload)
        if encrypted:
            self._encrypted(session, flow_uid, from_orig, encrypted)

    def _clear_text(self, session: _Session, side: _Side, from_orig: bool, data: bytes) -> int:
        """Walks the side's clear-text packets in `data`; returns how many bytes after its NEWKEYS are encrypted."""
        pos = 0
        if not side.banner_seen:
            at = 0 if data.startswith(b"SSH-") else data.find(b"\nSSH-") + 1
            if at == 0 and not data.startswith(b"SSH-"):
                session.without_banner += 1  # lines a server may send before its version, or no SSH at all
                session.decided = session.without_banner >= MAX_PAYLOADS_WITHOUT_BANNER
                return 0
            if _SSH1.match(data, at):
                session.decided = True  # SSH-1: the sizes mean something else
                return 0
            line_end = data.find(b"\n", at)
            if line_end < 0:
                return 0
            side.banner_seen = True
            pos = line_end + 1
        while pos < len(data):
            if side.skip:
                step = min(side.skip, len(data) - pos)
                side.skip -= step
                pos += step
                continue
            header = side.header + data[pos : pos + 6 - len(side.header)]
            pos += len(header) - len(side.header)
            if len(header) < 6:
                side.header = header
                return 0
            side.header = b""
            length, code = int.from_bytes(header[:4], "big"), header[5]
            if not 5 <= length <= MAX_PACKET:
                session.decided = True  # not the SSH binary packet protocol: leave the flow alone
                return 0
            side.skip = length - 2  # the packet's bytes after its length, padding length and code
            if code in CLIENT_KEX_MESSAGES or code in SERVER_KEX_MESSAGES:
                session.client_is_orig = from_orig == (code in CLIENT_KEX_MESSAGES)
            elif code == MSG_NEWKEYS:
                step = min(side.skip, len(data) - pos)
                side.skip -= step
                side.encrypted = True
                return len(data) - pos - step
        return 0

    def _encrypted(self, session: _Session, flow_uid: str, from_orig: bool, size: int) -> None:
        if session.client_is_orig is None:
            return
        if from_orig == session.client_is_orig:
            session.saw_client_data = True
            return
        if not session.saw_client_data:
            return
        session.server_segments += 1
        if session.server_segments > MAX_AUTH_SEGMENTS:
            session.decided = True
        elif not session.accept_size:
            session.accept_size = size
        elif size + SUCCESS_SHRINK == session.accept_size:
            self.ledger.attempt_with_outcome(flow_uid, success=True)
            session.decided = True
        elif not session.failure_size:
            if not session.banner_skipped and size - session.accept_size > BANNER_GROWTH:
                session.banner_skipped = True
            else:
                session.failure_size = size
        elif size == session.failure_size:
            self.ledger.attempt_with_outcome(flow_uid, success=False)
