"""MySQL logins: the client's handshake response after the server's greeting is an attempt, and so is a later
COM_CHANGE_USER; the server's OK packet is a success, its ERR packet 1045 (access denied) a failure (an auth
switch or more auth data come in between).

Packets are a 3-byte length, a sequence number and the body; only their first body byte matters here. A client
that asks for TLS (an SSL request: a 32-byte handshake response with CLIENT_SSL) hides the rest.
"""

from __future__ import annotations

from sensor.protocols.auth_ledger import AuthLedger
from sensor.protocols.extractor import PacketContext
from sensor.protocols.flow_state import BoundedFlowState
from sensor.records import Event

MAX_SESSIONS = 4096
MAX_PACKETS_PER_SEGMENT = 32
CLIENT_SSL = 0x0800
COM_CHANGE_USER = 0x11
SSL_REQUEST_LENGTH = 32
OK, ERR = 0x00, 0xFF
ACCESS_DENIED = frozenset((1045, 1698))  # ER_ACCESS_DENIED_ERROR, ER_ACCESS_DENIED_NO_PASSWORD_ERROR


class _Session:
    __slots__ = ("answered", "done", "greeted", "pending", "succeeded")

    def __init__(self) -> None:
        self.greeted = False
        self.answered = False  # the client sent its handshake response
        self.pending = False
        self.succeeded = False
        self.done = False  # nothing more to see: TLS, or a greeting that refused


def _packets(payload: bytes):
    """(sequence number, body) of each MySQL packet that starts in the segment (bodies may be cut short)."""
    pos = 0
    for _ in range(MAX_PACKETS_PER_SEGMENT):
        if pos + 5 > len(payload):
            return
        length = int.from_bytes(payload[pos : pos + 3], "little")
        yield payload[pos + 3], payload[pos + 4 : pos + 4 + length], length
        pos += 4 + length


class MysqlLogins:
    def __init__(self, ledger: AuthLedger | None = None) -> None:
        self.ledger = ledger or AuthLedger()
        self._sessions: BoundedFlowState[_Session] = BoundedFlowState(MAX_SESSIONS)

    def follows(self, flow_uid: str) -> bool:
        session = self._sessions.get(flow_uid)
        return session is None or not (session.done or session.succeeded)

    def on_payload(self, ctx: PacketContext, payload: bytes) -> list[Event]:
        session = self._sessions.get(ctx.flow_uid)
        if session is None:
            session = _Session()
            self._sessions.put(ctx.flow_uid, session)
        for sequence, body, length in _packets(payload):
            if session.done or not body:
                break
            if ctx.from_client:
                self._client(session, ctx.flow_uid, sequence, body, length)
            else:
                self._server(session, ctx.flow_uid, sequence, body)
        return []

    def _client(self, session: _Session, flow_uid: str, sequence: int, body: bytes, length: int) -> None:
        if not session.greeted or session.pending:
            return
        if not session.answered and sequence == 1:
            session.answered = True
            capabilities = int.from_bytes(body[:4], "little")
            if length == SSL_REQUEST_LENGTH and capabilities & CLIENT_SSL:
                session.done = True  # the login goes on inside TLS
                return
        elif not (session.answered and sequence == 0 and body[0] == COM_CHANGE_USER):
            return
        self.ledger.attempt(flow_uid)
        session.pending = True

    def _server(self, session: _Session, flow_uid: str, sequence: int, body: bytes) -> None:
        if sequence == 0 and not session.greeted:
            session.greeted = body[0] == 10  # an ERR greeting (host not allowed) refuses before any login
            session.done = not session.greeted
            return
        if not session.pending or body[0] not in (OK, ERR):
            return  # 0xFE auth switch, 0x01 more auth data: the exchange goes on
        session.pending = False
        if body[0] == OK:
            self.ledger.outcome(flow_uid, success=True)
            session.succeeded = True
        elif int.from_bytes(body[1:3], "little") in ACCESS_DENIED:
            self.ledger.outcome(flow_uid, success=False)
