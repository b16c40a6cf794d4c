"""Redis logins: an AUTH command is an attempt; its reply is "+OK" (success) or an error (-WRONGPASS, or
"-ERR invalid password" from servers before 6.0: failure).

Replies come in the order of the commands, so each flow keeps the kinds of its outstanding commands in a short
queue; each complete RESP reply pops one. A reply that does not parse, or ends past its segment, stops the
matching (the queue is cleared rather than risk pairing a reply with the wrong command).
"""

from __future__ import annotations

from collections import deque

from sensor.protocols.auth_ledger import AuthLedger
from sensor.protocols.extractor import PacketContext
from sensor.protocols.flow_state import BoundedFlowState
from sensor.records import Event

MAX_SESSIONS = 4096
MAX_OUTSTANDING = 64
MAX_ITEMS_PER_SEGMENT = 256
MAX_DEPTH = 4
OTHER, AUTH = range(2)
# "-ERR Client sent AUTH, but no password is set" and the like are no wrong guess
WRONG_PASSWORD = (b"-WRONGPASS", b"-ERR invalid password", b"-ERR invalid username-password pair")


class _Session:
    __slots__ = ("outstanding", "succeeded")

    def __init__(self) -> None:
        self.outstanding: deque[int] = deque(maxlen=MAX_OUTSTANDING)
        self.succeeded = False


def _line(data: bytes, pos: int) -> tuple[bytes, int] | None:
    end = data.find(b"\r\n", pos)
    return (data[pos:end], end + 2) if end >= 0 else None


def _reply_end(data: bytes, pos: int, depth: int = 0) -> int | None:
    """Where the RESP value at `pos` ends, or None when it is incomplete or no RESP."""
    line = _line(data, pos)
    if line is None or not line[0] or depth > MAX_DEPTH:
        return None
    head, after = line
    kind, rest = head[:1], head[1:]
    if kind in (b"+", b"-", b":", b",", b"#", b"_", b"("):  # one-line values (RESP2 and RESP3)
        return after
    if not rest.lstrip(b"-").isdigit():
        return None
    count = int(rest)
    if kind in (b"$", b"=", b"!"):
        return after if count < 0 else (after + count + 2 if after + count + 2 <= len(data) else None)
    if kind in (b"*", b"%", b"~", b">"):
        items = count * 2 if kind == b"%" else count
        for _ in range(max(items, 0)):
            if after is None:
                return None
            after = _reply_end(data, after, depth + 1)
        return after
    return None


def _command_names(payload: bytes) -> list[bytes]:
    """The command word of each command in a client segment: RESP arrays of bulk strings, or inline commands."""
    names, pos = [], 0
    while pos < len(payload) and len(names) < MAX_ITEMS_PER_SEGMENT:
        if payload[pos : pos + 1] == b"*":
            end = _reply_end(payload, pos)
            first = _line(payload, _line(payload, pos)[1]) if end is not None else None
            if end is None or first is None or first[0][:1] != b"$" or not first[0][1:].isdigit():
                break
            names.append(payload[first[1] : first[1] + int(first[0][1:])].upper())
            pos = end
        else:
            line = _line(payload, pos)
            if line is None:
                break
            names.append(line[0].split(b" ", 1)[0].upper())
            pos = line[1]
    return names


class RedisLogins:
    def __init__(self, ledger: AuthLedger | None = None) -> None:
        self.ledger = ledger or AuthLedger()
        self._sessions: BoundedFlowState[_Session] = BoundedFlowState(MAX_SESSIONS)

    def follows(self, flow_uid: str) -> bool:
        session = self._sessions.get(flow_uid)
        return session is None or not session.succeeded

    def on_payload(self, ctx: PacketContext, payload: bytes) -> list[Event]:
        session = self._sessions.get(ctx.flow_uid)
        if session is None:
            session = _Session()
            self._sessions.put(ctx.flow_uid, session)
        if ctx.from_client:
            for name in _command_names(payload):
                session.outstanding.append(AUTH if name == b"AUTH" else OTHER)
                if name == b"AUTH":
                    self.ledger.attempt(ctx.flow_uid)
        else:
            self._replies(session, ctx.flow_uid, payload)
        return []

    def _replies(self, session: _Session, flow_uid: str, payload: bytes) -> None:
        pos = 0
        while pos < len(payload) and session.outstanding:
            end = _reply_end(payload, pos)
            if end is None:
                session.outstanding.clear()
                return
            if session.outstanding.popleft() == AUTH:
                if payload.startswith(b"+OK", pos):
                    self.ledger.outcome(flow_uid, success=True)
                    session.succeeded = True
                elif payload.startswith(WRONG_PASSWORD, pos):
                    self.ledger.outcome(flow_uid, success=False)
            pos = end
