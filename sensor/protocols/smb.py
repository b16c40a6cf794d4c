"""SMB logins: a SESSION_SETUP exchange (SMB2/3, or SMB1's SESSION_SETUP_ANDX) is an attempt. Its rounds answered
STATUS_MORE_PROCESSING_REQUIRED belong to the same attempt (NTLM negotiate / challenge); the last answer decides:
STATUS_SUCCESS, or a logon failure status (STATUS_LOGON_FAILURE 0xC000006D and its kin).

Messages travel in NetBIOS session framing (a zero byte, a 3-byte length); SMB2 compounds chain several headers
in one message. An encrypted SMB3 message (transform header) hides the rest.
"""

from __future__ import annotations

from sensor.protocols.auth_ledger import AuthLedger
from sensor.protocols.extractor import PacketContext
from sensor.protocols.flow_state import BoundedFlowState
from sensor.records import Event

MAX_SESSIONS = 4096
MAX_HEADERS_PER_SEGMENT = 32
SMB1, SMB2, SMB3_TRANSFORM = b"\xffSMB", b"\xfeSMB", b"\xfdSMB"
SMB2_SESSION_SETUP = 0x0001
SMB1_SESSION_SETUP_ANDX = 0x73
STATUS_SUCCESS = 0
STATUS_MORE_PROCESSING_REQUIRED = 0xC0000016
LOGON_FAILURES = frozenset((
    0xC000006D,  # STATUS_LOGON_FAILURE
    0xC000006A,  # STATUS_WRONG_PASSWORD
    0xC0000064,  # STATUS_NO_SUCH_USER
    0xC000006E,  # STATUS_ACCOUNT_RESTRICTION
    0xC000006F,  # STATUS_INVALID_LOGON_HOURS
    0xC0000070,  # STATUS_INVALID_WORKSTATION
    0xC0000071,  # STATUS_PASSWORD_EXPIRED
    0xC0000072,  # STATUS_ACCOUNT_DISABLED
    0xC0000193,  # STATUS_ACCOUNT_EXPIRED
    0xC0000224,  # STATUS_PASSWORD_MUST_CHANGE
    0xC0000234,  # STATUS_ACCOUNT_LOCKED_OUT
    0xC0000022,  # STATUS_ACCESS_DENIED
))


class _Session:
    __slots__ = ("done", "in_setup")

    def __init__(self) -> None:
        self.in_setup = False
        self.done = False


def _session_setups(payload: bytes):
    """(is a response, NT status) of each session setup header in the segment; None for an encrypted message."""
    pos = 0
    for _ in range(MAX_HEADERS_PER_SEGMENT):
        if pos + 8 > len(payload) or payload[pos] != 0:
            return
        length = int.from_bytes(payload[pos + 1 : pos + 4], "big")
        header = pos + 4
        magic = payload[header : header + 4]
        if magic == SMB3_TRANSFORM:
            yield None
            return
        if magic == SMB2:
            yield from _smb2_setups(payload, header, header + length)
        elif magic == SMB1 and header + 10 <= len(payload) and payload[header + 4] == SMB1_SESSION_SETUP_ANDX:
            # protocol, command, status (4), flags: 0x80 marks a reply
            yield bool(payload[header + 9] & 0x80), int.from_bytes(payload[header + 5 : header + 9], "little")
        pos = header + length


def _smb2_setups(payload: bytes, header: int, end: int):
    for _ in range(MAX_HEADERS_PER_SEGMENT):
        if header + 24 > len(payload):
            return
        if int.from_bytes(payload[header + 12 : header + 14], "little") == SMB2_SESSION_SETUP:
            flags = int.from_bytes(payload[header + 16 : header + 20], "little")
            yield bool(flags & 0x01), int.from_bytes(payload[header + 8 : header + 12], "little")
        following = int.from_bytes(payload[header + 20 : header + 24], "little")  # NextCommand of a compound
        if not following or header + following >= end:
            return
        header += following


class SmbLogins:
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
        for setup in _session_setups(payload):
            if setup is None:
                session.done = True  # encrypted from here on
                break
            is_response, status = setup
            if not is_response:
                if not session.in_setup:
                    self.ledger.attempt(ctx.flow_uid)
                    session.in_setup = True
            elif session.in_setup and status != STATUS_MORE_PROCESSING_REQUIRED:
                session.in_setup = False
                if status == STATUS_SUCCESS:
                    self.ledger.outcome(ctx.flow_uid, success=True)
                    session.done = True
                elif status in LOGON_FAILURES:
                    self.ledger.outcome(ctx.flow_uid, success=False)
        return []
