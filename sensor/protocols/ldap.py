"""LDAP logins: a bindRequest with credentials (a simple bind with a password, or SASL) is an attempt; the
bindResponse's resultCode is its outcome: 0 success, 49 invalidCredentials (or 48 inappropriateAuthentication)
failure, 14 saslBindInProgress a further round of the same attempt. Anonymous simple binds (no password) are
no login attempt.
"""

from __future__ import annotations

from sensor.protocols.auth_ledger import AuthLedger
from sensor.protocols.extractor import PacketContext
from sensor.protocols.flow_state import BoundedFlowState
from sensor.protocols.services import ber_length, ldap_message
from sensor.records import Event

MAX_SESSIONS = 4096
MAX_MESSAGES_PER_SEGMENT = 32
BIND_REQUEST, BIND_RESPONSE = 0x60, 0x61
SIMPLE, SASL = 0x80, 0xA3  # AuthenticationChoice tags
SUCCESS, IN_PROGRESS = 0, 14
FAILURES = frozenset((48, 49))  # inappropriateAuthentication, invalidCredentials


class _Session:
    __slots__ = ("done", "pending")

    def __init__(self) -> None:
        self.pending = False
        self.done = False


def _messages(payload: bytes):
    """(protocolOp tag, position of its contents, end of the message) of each LDAPMessage in the segment."""
    pos = 0
    for _ in range(MAX_MESSAGES_PER_SEGMENT):
        message = ldap_message(payload[pos:])
        outer = ber_length(payload, pos + 1)
        if message is None or outer is None:
            return
        end = outer[1] + outer[0]
        yield message[1], pos + message[2], end
        pos = end


def _with_credentials(payload: bytes, at: int, end: int) -> bool:
    """Whether a BindRequest (version INTEGER, name OctetString, authentication) carries credentials."""
    version = ber_length(payload, at + 1)
    if version is None:
        return False
    name = ber_length(payload, version[1] + version[0] + 1)
    if name is None:
        return False
    choice_at = name[1] + name[0]
    choice = ber_length(payload, choice_at + 1)
    if choice is None or choice_at >= end:
        return False
    if payload[choice_at] == SIMPLE:
        return choice[0] > 0  # an empty password is an anonymous (or unauthenticated) bind
    return payload[choice_at] == SASL


class LdapLogins:
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
        for tag, at, end in _messages(payload):
            if tag == BIND_REQUEST and ctx.from_client and not session.pending and _with_credentials(
                    payload, at, end):
                self.ledger.attempt(ctx.flow_uid)
                session.pending = True
            elif tag == BIND_RESPONSE and not ctx.from_client and session.pending:
                self._result(session, ctx.flow_uid, payload[at : at + 3])
        return []

    def _result(self, session: _Session, flow_uid: str, result: bytes) -> None:
        if len(result) < 3 or result[:2] != b"\x0a\x01" or result[2] == IN_PROGRESS:
            return
        session.pending = False
        if result[2] == SUCCESS:
            self.ledger.outcome(flow_uid, success=True)
            session.done = True
        elif result[2] in FAILURES:
            self.ledger.outcome(flow_uid, success=False)
