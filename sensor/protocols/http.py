"""HTTP/1.x requests on any TCP port: method, URI, Host, User-Agent and whether Basic credentials were sent;
and the outcome of requests that carried credentials (Basic, Digest, NTLM, Negotiate): 401/407 is a failed
login, 2xx/3xx a successful one.

Answers come in the order of the requests (RFC 9112 9.3), so a flow that sent credentials keeps the kinds of
its outstanding requests in a short queue that the status lines of the answers pop.
"""

from __future__ import annotations

import binascii
import re
from collections import deque

from sensor.protocols.auth_ledger import AuthLedger
from sensor.protocols.extractor import PacketContext, PortBasedExtractor
from sensor.protocols.flow_state import BoundedFlowState
from sensor.protocols.text import printable
from sensor.records import CleartextLoginEvent, Event, HttpRequestEvent

METHODS = (
    b"GET ",
    b"POST ",
    b"HEAD ",
    b"PUT ",
    b"DELETE ",
    b"OPTIONS ",
    b"PATCH ",
    b"CONNECT ",
    b"TRACE ",
)
MAX_HEAD = 8192  # headers beyond this are not looked at
MAX_URI = 1024
MAX_OUTSTANDING = 16  # requests awaiting their answer, per flow that sent credentials
MAX_CREDENTIAL_FLOWS = 4096
MAX_FLOWS = 65536
LOOK_FOR_HTTP = 8  # payloads of a flow on an HTTP port within which a request or status line must show
SPEAKS_HTTP = -1

# What a request was, for the answer that will come.
PLAIN, CREDENTIALS, HANDSHAKE = range(3)  # HANDSHAKE: an NTLM negotiate message, whose 401 is a challenge
_STATUS_LINE = re.compile(rb"HTTP/[0-9]\.[0-9] ([1-5][0-9]{2})")
_NTLMSSP = b"NTLMSSP\0"


def basic_auth_user(authorization: bytes) -> str | None:
    """The user name of an `Authorization: Basic` value, "" if undecodable, None for other schemes.

    The decoded password is dropped right here and never leaves this function.
    """
    scheme, _, credentials = authorization.strip().partition(b" ")
    if scheme.lower() != b"basic":
        return None
    try:
        decoded = binascii.a2b_base64(credentials.strip())
    except binascii.Error:
        return ""
    return printable(decoded.partition(b":")[0], 128)


def credentials_kind(authorization: bytes) -> int:
    """What an Authorization / Proxy-Authorization value makes of its request."""
    scheme, _, token = authorization.strip().partition(b" ")
    scheme = scheme.lower()
    if scheme in (b"ntlm", b"negotiate"):
        try:
            decoded = binascii.a2b_base64(token.strip())
        except binascii.Error:
            return CREDENTIALS
        at = decoded.find(_NTLMSSP)  # bare in NTLM, inside SPNEGO in Negotiate
        if at >= 0 and decoded[at + 8 : at + 9] == b"\x01":
            return HANDSHAKE  # NEGOTIATE_MESSAGE: the server answers with a challenge, not a verdict
        return CREDENTIALS
    return CREDENTIALS if scheme in (b"basic", b"digest") else PLAIN  # bearer tokens are not logins


class HttpExtractor(PortBasedExtractor):
    tcp_ports = frozenset((80, 3128, 8000, 8008, 8080, 8888))

    def __init__(self, ledger: AuthLedger | None = None) -> None:
        self.ledger = ledger or AuthLedger()
        self._outstanding: BoundedFlowState[deque[int]] = BoundedFlowState(MAX_CREDENTIAL_FLOWS)
        self._looked: BoundedFlowState[int] = BoundedFlowState(MAX_FLOWS)  # payloads so far, or SPEAKS_HTTP

    def follows(self, flow_uid: str) -> bool:
        """To its end once it spoke HTTP (every request of a kept-alive connection counts); else a few payloads."""
        looked = self._looked.get(flow_uid) or 0
        return looked == SPEAKS_HTTP or looked < LOOK_FOR_HTTP

    def _seen(self, flow_uid: str, speaks_http: bool) -> None:
        looked = self._looked.get(flow_uid) or 0
        if looked != SPEAKS_HTTP:
            self._looked.put(flow_uid, SPEAKS_HTTP if speaks_http else looked + 1)

    def on_payload(self, ctx: PacketContext, payload: bytes) -> list[Event]:
        if not payload.startswith(METHODS):
            answer = payload.startswith(b"HTTP/")
            if answer:
                self._answer(ctx.flow_uid, payload)
            self._seen(ctx.flow_uid, answer)
            return []
        self._seen(ctx.flow_uid, True)
        head_end = payload.find(b"\r\n\r\n", 0, MAX_HEAD)
        lines = payload[: head_end if head_end >= 0 else MAX_HEAD].split(b"\r\n")
        request = lines[0].split(b" ")
        if len(request) != 3 or not request[2].startswith(b"HTTP/"):
            return []
        host = user_agent = b""
        auth_user: str | None = None
        kind = PLAIN
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"host":
                host = value.strip()
            elif name == b"user-agent":
                user_agent = value.strip()
            elif name == b"authorization":
                auth_user = basic_auth_user(value)
                kind = credentials_kind(value)
            elif name == b"proxy-authorization":
                kind = credentials_kind(value)
        self._request(ctx.flow_uid, kind)
        events: list[Event] = [
            ctx.event(
                HttpRequestEvent,
                method=request[0].decode("ascii"),
                uri=printable(request[1], MAX_URI),
                host=printable(host),
                user_agent=printable(user_agent, 512),
                basic_auth=auth_user is not None,
                basic_auth_user=auth_user or "",
            )
        ]
        if auth_user is not None:
            events.append(
                ctx.event(CleartextLoginEvent, protocol="http_basic", username=auth_user, password_seen=True)
            )
        return events

    def _request(self, flow_uid: str, kind: int) -> None:
        outstanding = self._outstanding.get(flow_uid)
        if outstanding is None:
            if kind == PLAIN:
                return  # flows that never sent credentials keep no state
            outstanding = deque(maxlen=MAX_OUTSTANDING)
            self._outstanding.put(flow_uid, outstanding)
        outstanding.append(kind)
        if kind == CREDENTIALS:
            self.ledger.attempt(flow_uid)

    def _answer(self, flow_uid: str, payload: bytes) -> None:
        outstanding = self._outstanding.get(flow_uid)
        status = _STATUS_LINE.match(payload)
        if not outstanding or status is None or status.group(1).startswith(b"1"):
            return  # 1xx answers are interim: the final answer follows
        if outstanding.popleft() != CREDENTIALS:
            return
        code = int(status.group(1))
        if code in (401, 407):
            self.ledger.outcome(flow_uid, success=False)
        elif code < 400:
            self.ledger.outcome(flow_uid, success=True)
