"""Logins whose credentials cross the wire in clear: FTP, Telnet, POP3, IMAP and SMTP AUTH, and their outcome.

Only the user name is kept. Passwords are recognised by position (the PASS argument, the line typed
after a Telnet "Password:" prompt, the third field of SASL PLAIN, the second SASL LOGIN answer) and are
never copied into state, events or logs.

Each login is an attempt; the server's answer decides it: FTP 230 / 530, POP3 +OK / -ERR, IMAP tagged OK / NO,
SMTP 235 / 535, Telnet "Login incorrect" or the login prompt again against a shell prompt or "Last login".
Challenge-response SASL mechanisms (CRAM-MD5, SCRAM ...) hide the password but not the attempt or its outcome.
"""

from __future__ import annotations

import binascii

from sensor.protocols.auth_ledger import AuthLedger
from sensor.protocols.extractor import PacketContext, PortBasedExtractor
from sensor.protocols.flow_state import BoundedFlowState
from sensor.protocols.text import printable
from sensor.records import CleartextLoginEvent, Event

SERVER_PORTS = {21: "ftp", 23: "telnet", 110: "pop3", 143: "imap", 25: "smtp", 587: "smtp"}
PROTOCOLS = frozenset(SERVER_PORTS.values())
MAX_USERNAME = 128
MAX_LINES_PER_SEGMENT = 32
MAX_SESSIONS = 4096

# What a session waits for next from the client.
AWAIT_NOTHING = 0
AWAIT_SASL_PLAIN = 1  # base64 "authzid\0authcid\0password"
AWAIT_SASL_LOGIN_USER = 2  # base64 user name
AWAIT_SASL_LOGIN_PASSWORD = 3  # base64 password: only its arrival matters
AWAIT_TELNET_USER = 4  # characters typed after a login prompt
AWAIT_TELNET_PASSWORD = 5  # end of the line typed after a password prompt

TELNET_IAC = 0xFF
TELNET_SB, TELNET_SE = 0xFA, 0xF0
TELNET_LOGIN_PROMPTS = (b"login:", b"username:", b"user name:")
TELNET_ERASE = (0x08, 0x7F)
TELNET_FAILURE_WORDS = (b"incorrect", b"failed", b"denied", b"invalid")
TELNET_SHELL_PROMPTS = (b"$", b"#", b">", b"%")
TELNET_REPLIES_CONSIDERED = 4  # server outputs after a password that may still tell its outcome

FTP_SUCCESS, FTP_FAILURE = (b"230", b"202"), (b"530",)
SMTP_SUCCESS, SMTP_FAILURE = (b"235",), (b"535",)
# Client commands after which a session has no login to show: TLS from there on; an SMTP mail transaction
# (AUTH comes before MAIL FROM).
ENDS_LOGINS = {"ftp": (b"AUTH",), "pop3": (b"STLS",), "imap": (b"STARTTLS",), "smtp": (b"STARTTLS", b"MAIL")}

# What a server line says about a pending login: nothing yet, settled without telling how, failed, succeeded.
NOT_YET, SETTLED, FAILED, SUCCEEDED = range(4)


class _Session:
    """How far one connection's login got. Holds the user name, never the password."""

    __slots__ = ("awaiting", "finished", "flow_uid", "pending", "replies", "succeeded", "tag", "telnet", "typed",
                 "username")

    def __init__(self, flow_uid: str) -> None:
        self.flow_uid = flow_uid
        self.username = ""
        self.awaiting = AWAIT_NOTHING
        self.typed = bytearray()
        self.pending = False  # an attempt awaits its answer
        self.tag = b""  # IMAP: the tag the answer to the login will carry
        self.replies = 0  # Telnet: server outputs since the password
        self.succeeded = False
        self.telnet = False
        self.finished = False  # no login can follow: binary data where commands should be, TLS, mail transactions


def _b64(text: bytes) -> bytes | None:
    try:
        return binascii.a2b_base64(text.strip())
    except binascii.Error:
        return None


def _name(raw: bytes) -> str:
    return printable(raw.strip(), MAX_USERNAME)


def _imap_astring(text: bytes) -> bytes:
    """The first IMAP atom or quoted string of `text` (RFC 3501 astring, literals not followed)."""
    text = text.lstrip()
    if text.startswith(b'"'):
        out = bytearray()
        escaped = False
        for byte in text[1:]:
            if escaped:
                out.append(byte)
                escaped = False
            elif byte == 0x5C:  # backslash
                escaped = True
            elif byte == 0x22:  # closing quote
                break
            else:
                out.append(byte)
        return bytes(out)
    return text.split(b" ", 1)[0]


def strip_telnet_commands(data: bytes) -> bytes:
    """The user data of a Telnet segment, without IAC option negotiation and subnegotiation."""
    if TELNET_IAC not in data:
        return data
    out = bytearray()
    pos = 0
    size = len(data)
    while pos < size:
        byte = data[pos]
        if byte != TELNET_IAC:
            out.append(byte)
            pos += 1
        elif pos + 1 >= size:
            break
        elif data[pos + 1] == TELNET_IAC:  # escaped 0xff data byte
            out.append(TELNET_IAC)
            pos += 2
        elif data[pos + 1] == TELNET_SB:
            end = data.find(bytes((TELNET_IAC, TELNET_SE)), pos + 2)
            pos = size if end < 0 else end + 2
        elif 0xFB <= data[pos + 1] <= 0xFE:  # WILL / WONT / DO / DONT + option
            pos += 3
        else:
            pos += 2
    return bytes(out)


def _role(ctx: PacketContext) -> tuple[str, bool] | None:
    """(protocol, sent by the client): from the identified service, else from the well-known port."""
    if ctx.service in PROTOCOLS and ctx.from_client is not None:
        return ctx.service, ctx.from_client
    protocol = SERVER_PORTS.get(ctx.dst_port)
    if protocol is not None:
        return protocol, True
    protocol = SERVER_PORTS.get(ctx.src_port)
    return (protocol, False) if protocol is not None else None


def _reply_code(line: bytes) -> bytes | None:
    """The code of a final FTP / SMTP reply line ("530 ..."; "530-..." continues a multi-line reply)."""
    return line[:3] if line[:3].isdigit() and line[3:4] in (b" ", b"") else None


def _outcome(protocol: str, line: bytes, tag: bytes) -> int:
    """What a server line says about the pending login (NOT_YET, SETTLED, FAILED or SUCCEEDED)."""
    if protocol in ("ftp", "smtp"):
        code = _reply_code(line)
        success, failure = (FTP_SUCCESS, FTP_FAILURE) if protocol == "ftp" else (SMTP_SUCCESS, SMTP_FAILURE)
        if code is None or code in (b"331", b"332", b"334"):  # need password / account, SASL challenge
            return NOT_YET
        if code in success:
            return SUCCEEDED
        return FAILED if code in failure else SETTLED if code >= b"400" else NOT_YET
    if protocol == "pop3":
        return SUCCEEDED if line.startswith(b"+OK") else FAILED if line.startswith(b"-ERR") else NOT_YET
    if protocol == "imap" and tag and line.startswith(tag + b" "):
        status = line[len(tag) + 1 :].split(b" ", 1)[0].upper()
        return SUCCEEDED if status == b"OK" else FAILED if status == b"NO" else SETTLED
    return NOT_YET


class CleartextLoginExtractor(PortBasedExtractor):
    tcp_ports = frozenset(SERVER_PORTS)

    def __init__(self, ledger: AuthLedger | None = None) -> None:
        self.ledger = ledger or AuthLedger()
        self._sessions: BoundedFlowState[_Session] = BoundedFlowState(MAX_SESSIONS)

    def follows(self, flow_uid: str) -> bool:
        """Until a login succeeded: what follows is the session's own business. Except on Telnet, where the
        passwords typed later (su, sudo, a router's enable) cross in clear as well."""
        session = self._sessions.get(flow_uid)
        if session is None:
            return True
        return not session.finished and (not session.succeeded or session.telnet)

    def on_payload(self, ctx: PacketContext, payload: bytes) -> list[Event]:
        role = _role(ctx)
        if role is None:
            return []
        protocol, from_client = role
        if protocol == "telnet":
            return self._telnet(ctx, payload, from_client)
        if not from_client:
            self._answers(protocol, ctx.flow_uid, payload)
            return []
        events: list[Event] = []
        if payload and not 0x09 <= payload[0] <= 0x7E:  # commands are text: binary data means no login comes
            self._session(ctx.flow_uid).finished = True
            return events
        for raw_line in payload.split(b"\n", MAX_LINES_PER_SEGMENT)[:MAX_LINES_PER_SEGMENT]:
            line = raw_line.rstrip(b"\r")
            if not line:
                continue
            session = self._session(ctx.flow_uid)
            login = self._command_login(protocol, session, line)
            if login is not None:
                if login[1]:
                    self._attempt(session)
                events.append(
                    ctx.event(
                        CleartextLoginEvent, protocol=protocol, username=login[0], password_seen=login[1]
                    )
                )
        return events

    def _session(self, flow_uid: str) -> _Session:
        session = self._sessions.get(flow_uid)
        if session is None:
            session = _Session(flow_uid)
            self._sessions.put(flow_uid, session)
        return session

    def _attempt(self, session: _Session) -> None:
        self.ledger.attempt(session.flow_uid)
        session.pending = True
        session.replies = 0

    def _settle(self, session: _Session, outcome: int) -> None:
        session.pending = False
        if outcome in (FAILED, SUCCEEDED):
            self.ledger.outcome(session.flow_uid, success=outcome == SUCCEEDED)
            session.succeeded |= outcome == SUCCEEDED

    def _answers(self, protocol: str, flow_uid: str, payload: bytes) -> None:
        session = self._sessions.get(flow_uid)
        if session is None or not session.pending:
            return
        for raw_line in payload.split(b"\n", MAX_LINES_PER_SEGMENT)[:MAX_LINES_PER_SEGMENT]:
            outcome = _outcome(protocol, raw_line.rstrip(b"\r"), session.tag)
            if outcome != NOT_YET:
                self._settle(session, outcome)
                return

    def _command_login(self, protocol: str, session: _Session, line: bytes) -> tuple[str, bool] | None:
        """(user name, password seen) once a client line completes a login, else None."""
        if session.awaiting != AWAIT_NOTHING:
            return self._sasl_answer(session, line)
        tag = b""
        if protocol == "imap":
            tag, _, line = line.partition(b" ")  # IMAP commands carry a tag first
        verb, _, argument = line.partition(b" ")
        verb = verb.upper()
        if verb in (b"LOGIN", b"AUTHENTICATE"):
            session.tag = tag
        elif verb in ENDS_LOGINS.get(protocol, ()) and not session.pending:
            session.finished = True
        if protocol == "pop3" and verb == b"AUTH" and argument.strip():  # RFC 5034 SASL ("AUTH" alone lists them)
            return self._sasl_start(session, argument)
        if protocol in ("ftp", "pop3"):
            if verb == b"USER":
                session.username = _name(argument)
            elif verb == b"PASS":
                username, session.username = session.username, ""
                return username, True
            elif verb == b"APOP" and protocol == "pop3":
                # APOP sends an MD5 of challenge + password: not the password, but crackable offline
                return _name(argument.split(b" ", 1)[0]), True
            return None
        if protocol == "imap" and verb == b"LOGIN":
            return _name(_imap_astring(argument)), True  # LOGIN always carries the password as well
        if (protocol == "imap" and verb == b"AUTHENTICATE") or (protocol == "smtp" and verb == b"AUTH"):
            return self._sasl_start(session, argument)
        return None

    def _sasl_start(self, session: _Session, argument: bytes) -> tuple[str, bool] | None:
        mechanism, _, initial_response = argument.strip().partition(b" ")
        mechanism = mechanism.upper()
        if mechanism == b"PLAIN":
            session.awaiting = AWAIT_SASL_PLAIN
        elif mechanism == b"LOGIN":
            session.awaiting = AWAIT_SASL_LOGIN_USER
        else:  # challenge-response mechanisms (CRAM-MD5, SCRAM, GSSAPI) do not expose a password, only the attempt
            if mechanism:
                self._attempt(session)
            return None
        if initial_response and initial_response != b"=":
            return self._sasl_answer(session, initial_response)
        return None

    @staticmethod
    def _sasl_answer(session: _Session, line: bytes) -> tuple[str, bool] | None:
        awaiting = session.awaiting
        if line.strip() == b"*":  # the client cancelled the exchange
            session.awaiting = AWAIT_NOTHING
            return None
        decoded = _b64(line)
        if awaiting == AWAIT_SASL_PLAIN:
            session.awaiting = AWAIT_NOTHING
            if decoded is None:
                return None
            fields = decoded.split(b"\0")
            if len(fields) != 3:
                return None
            return _name(fields[1] or fields[0]), bool(fields[2])
        if awaiting == AWAIT_SASL_LOGIN_USER:
            session.awaiting = AWAIT_SASL_LOGIN_PASSWORD
            session.username = _name(decoded) if decoded is not None else ""
            return None
        session.awaiting = AWAIT_NOTHING
        username, session.username = session.username, ""
        return username, True

    def _telnet(self, ctx: PacketContext, payload: bytes, from_client: bool) -> list[Event]:
        """Best effort: follow the server's prompts and the characters the client types after them."""
        data = strip_telnet_commands(payload)
        self._session(ctx.flow_uid).telnet = True
        if not from_client:
            # a prompt ends the server's output; "Last login: ..." in a banner is not one
            tail = data.rstrip().lower()
            session = self._sessions.get(ctx.flow_uid)
            if session is not None and session.pending and tail:
                self._telnet_outcome(session, tail)
            if tail.endswith(TELNET_LOGIN_PROMPTS):
                session = self._session(ctx.flow_uid)
                session.awaiting = AWAIT_TELNET_USER
                session.typed.clear()
            elif tail.endswith(b"password:"):
                self._session(ctx.flow_uid).awaiting = AWAIT_TELNET_PASSWORD
            return []
        session = self._sessions.get(ctx.flow_uid)
        if session is None:
            return []
        if session.awaiting == AWAIT_TELNET_USER:
            self._type_username(session, data)
        elif session.awaiting == AWAIT_TELNET_PASSWORD and (b"\r" in data or b"\n" in data):
            session.awaiting = AWAIT_NOTHING
            self._attempt(session)
            return [
                ctx.event(
                    CleartextLoginEvent, protocol="telnet", username=session.username, password_seen=True
                )
            ]
        return []

    def _telnet_outcome(self, session: _Session, output: bytes) -> None:
        """The server's output after a password: a complaint or the login prompt again, or a shell."""
        if any(word in output for word in TELNET_FAILURE_WORDS) or output.endswith(TELNET_LOGIN_PROMPTS):
            self._settle(session, FAILED)
        elif b"last login" in output or output.endswith(TELNET_SHELL_PROMPTS):
            self._settle(session, SUCCEEDED)
        else:
            session.replies += 1
            if session.replies >= TELNET_REPLIES_CONSIDERED:
                self._settle(session, SETTLED)

    @staticmethod
    def _type_username(session: _Session, data: bytes) -> None:
        for byte in data:
            if byte in (0x0D, 0x0A, 0x00):
                if session.typed:
                    session.username = _name(bytes(session.typed))
                    session.typed.clear()
                    session.awaiting = AWAIT_NOTHING
                return
            if byte in TELNET_ERASE:
                if session.typed:
                    session.typed.pop()
            elif len(session.typed) < MAX_USERNAME:
                session.typed.append(byte)
