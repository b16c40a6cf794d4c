"""PostgreSQL logins: a StartupMessage is an attempt (whatever the method: trust, password, MD5, SCRAM); an
ErrorResponse with an SQLSTATE of class 28 (28P01 invalid_password, 28000 invalid_authorization_specification)
is its failure, ReadyForQuery its success. AuthenticationOk alone is not enough: the server may still refuse
(a role that does not exist). The server's 'S' to an SSLRequest (or 'G' to a GSSENCRequest) hides the rest.
"""

from __future__ import annotations

from sensor.protocols.auth_ledger import AuthLedger
from sensor.protocols.extractor import PacketContext
from sensor.protocols.flow_state import BoundedFlowState
from sensor.records import Event

MAX_SESSIONS = 4096
MAX_MESSAGES_PER_SEGMENT = 64
PROTOCOL_3 = 196608
ENCRYPTION_REQUESTS = frozenset((80877103, 80877104))  # SSLRequest, GSSENCRequest
FAILURE_CLASS = b"28"


class _Session:
    __slots__ = ("done", "encryption_asked", "pending")

    def __init__(self) -> None:
        self.encryption_asked = False
        self.pending = False
        self.done = False


def _sqlstate(body: bytes) -> bytes:
    """The 'C' field of an ErrorResponse body (fields: a type byte, then a NUL-terminated string)."""
    pos = 0
    while pos < len(body) and body[pos] != 0:
        end = body.find(b"\0", pos + 1)
        if end < 0:
            break
        if body[pos] == ord("C"):
            return body[pos + 1 : end]
        pos = end + 1
    return b""


class PostgresqlLogins:
    def __init__(self, ledger: AuthLedger | None = None) -> None:
        self.ledger = ledger or AuthLedger()
        self._sessions: BoundedFlowState[_Session] = BoundedFlowState(MAX_SESSIONS)

    def follows(self, flow_uid: str) -> bool:
        session = self._sessions.get(flow_uid)
        return session is None or not session.done

    def on_payload(self, ctx: PacketContext, payload: bytes) -> list[Event]:
        session = self._sessions.get(ctx.flow_uid)
        if session is None:
            session = _Session()
            self._sessions.put(ctx.flow_uid, session)
        if session.done:
            return []
        if ctx.from_client:
            self._client(session, ctx.flow_uid, payload)
        elif session.encryption_asked and len(payload) == 1:
            session.encryption_asked = False
            session.done = payload in (b"S", b"G")  # yes: TLS / GSSAPI encryption from here on
        else:
            self._server(session, ctx.flow_uid, payload)
        return []

    def _client(self, session: _Session, flow_uid: str, payload: bytes) -> None:
        """Startup packets have no type byte: a length, then a code (the protocol version or a request)."""
        if len(payload) < 8 or int.from_bytes(payload[:4], "big") != len(payload):
            return
        code = int.from_bytes(payload[4:8], "big")
        if code in ENCRYPTION_REQUESTS:
            session.encryption_asked = True
        elif code == PROTOCOL_3 and not session.pending:
            self.ledger.attempt(flow_uid)
            session.pending = True

    def _server(self, session: _Session, flow_uid: str, payload: bytes) -> None:
        if not session.pending:
            return
        pos = 0
        for _ in range(MAX_MESSAGES_PER_SEGMENT):
            if pos + 5 > len(payload):
                return
            kind, length = payload[pos], int.from_bytes(payload[pos + 1 : pos + 5], "big")
            if length < 4:
                return
            body = payload[pos + 5 : pos + 1 + length]
            if kind == ord("E"):
                self._settle(session, flow_uid, success=False if _sqlstate(body).startswith(FAILURE_CLASS) else None)
                return
            if kind == ord("Z"):
                self._settle(session, flow_uid, success=True)
                return
            pos += 1 + length

    def _settle(self, session: _Session, flow_uid: str, success: bool | None) -> None:
        session.pending = False
        session.done = True
        if success is not None:
            self.ledger.outcome(flow_uid, success)
