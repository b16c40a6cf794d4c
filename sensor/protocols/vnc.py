"""VNC (RFB) logins: the handshake is followed byte by byte on both sides (RFC 6143 7.1-7.2).

Version lines (12 bytes each), then the security type: RFB 3.3 servers impose one (4 bytes), 3.7+ servers offer
a list (a count, then the types) and the client picks one byte. With VNC authentication (type 2) or Apple's
Diffie-Hellman authentication (type 30) the client's answer to the server's challenge is an attempt, and the
server's SecurityResult (4 bytes: 0 OK, 1 failed, 2 too many attempts) its outcome. Other types (None, TLS,
VeNCrypt ...) carry no password to count here.
"""

from __future__ import annotations

from sensor.protocols.auth_ledger import AuthLedger
from sensor.protocols.extractor import PacketContext
from sensor.protocols.flow_state import BoundedFlowState
from sensor.records import Event

MAX_SESSIONS = 4096
VERSION_LENGTH = 12
PASSWORD_TYPES = frozenset((2, 30))  # VNC authentication, Apple remote desktop (Diffie-Hellman)
MAX_BUFFERED = 1024

# what each side's bytes are expected to be
SERVER_VERSION, SERVER_SECURITY, SERVER_CHALLENGE, SERVER_RESULT, FINISHED = range(5)
CLIENT_VERSION, CLIENT_CHOICE, CLIENT_ANSWER, CLIENT_DONE = range(4)


class _Session:
    __slots__ = ("client", "client_state", "minor", "server", "server_state")

    def __init__(self) -> None:
        self.server = b""
        self.client = b""
        self.server_state = SERVER_VERSION
        self.client_state = CLIENT_VERSION
        self.minor = 0  # the server's version, then the one both speak (the lower)


def _minor(version: bytes) -> int:
    return int(version[8:11]) if version[:4] == b"RFB " and version[8:11].isdigit() else 0


class VncLogins:
    def __init__(self, ledger: AuthLedger | None = None) -> None:
        self.ledger = ledger or AuthLedger()
        self._sessions: BoundedFlowState[_Session] = BoundedFlowState(MAX_SESSIONS)

    def follows(self, flow_uid: str) -> bool:
        session = self._sessions.get(flow_uid)
        return session is None or session.server_state != FINISHED

    def on_payload(self, ctx: PacketContext, payload: bytes) -> list[Event]:
        session = self._sessions.get(ctx.flow_uid)
        if session is None:
            session = _Session()
            self._sessions.put(ctx.flow_uid, session)
        if session.server_state == FINISHED:
            return []
        if ctx.from_client:
            session.client = (session.client + payload)[:MAX_BUFFERED]
            self._client(session, ctx.flow_uid)
        else:
            session.server = (session.server + payload)[:MAX_BUFFERED]
            self._server(session, ctx.flow_uid)
        return []

    def _server(self, session: _Session, flow_uid: str) -> None:
        data = session.server
        if session.server_state == SERVER_VERSION and len(data) >= VERSION_LENGTH:
            session.minor = _minor(data)
            data = data[VERSION_LENGTH:]
            session.server_state = SERVER_SECURITY
        if session.server_state == SERVER_SECURITY and session.client_state != CLIENT_VERSION:
            data = self._security(session, data)
        if session.server_state == SERVER_CHALLENGE:
            data = b""  # the challenge (or Diffie-Hellman parameters): only the client's answer matters
        if session.server_state == SERVER_RESULT and len(data) >= 4:
            result = int.from_bytes(data[:4], "big")
            if result <= 2:
                self.ledger.outcome(flow_uid, success=result == 0)
            session.server_state = FINISHED
        session.server = data

    def _security(self, session: _Session, data: bytes) -> bytes:
        """The server's security types; the chosen one decides what follows."""
        if session.minor < 7:  # RFB 3.3: the server imposes a type, 4 bytes
            if len(data) < 4:
                return data
            self._chosen(session, int.from_bytes(data[:4], "big"))
            return data[4:]
        if not data or len(data) < 1 + data[0]:
            return data
        if data[0] == 0:  # no types: the connection failed
            session.server_state = FINISHED
        else:
            session.server_state = SERVER_CHALLENGE  # until the client's choice says otherwise
        return data[1 + data[0] :]

    def _chosen(self, session: _Session, security_type: int) -> None:
        session.server_state = SERVER_CHALLENGE if security_type in PASSWORD_TYPES else FINISHED

    def _client(self, session: _Session, flow_uid: str) -> None:
        data = session.client
        if session.client_state == CLIENT_VERSION and len(data) >= VERSION_LENGTH:
            session.minor = min(session.minor, _minor(data))  # the server speaks the client's older version
            data = data[VERSION_LENGTH:]
            session.client_state = CLIENT_CHOICE if session.minor >= 7 else CLIENT_ANSWER  # 3.3: the server chose
        if session.client_state == CLIENT_CHOICE and data and session.server_state == SERVER_CHALLENGE:
            self._chosen(session, data[0])
            data = data[1:]
            session.client_state = CLIENT_ANSWER
        if session.client_state == CLIENT_ANSWER and data and session.server_state == SERVER_CHALLENGE:
            self.ledger.attempt(flow_uid)
            session.server_state = SERVER_RESULT
            session.server = b""
            session.client_state = CLIENT_DONE
        session.client = b"" if session.client_state == CLIENT_DONE else data
        if session.server and session.server_state == SERVER_SECURITY:
            self._server(session, flow_uid)  # security types that came before the client's version
