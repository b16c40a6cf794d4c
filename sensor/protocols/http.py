"""HTTP/1.x requests on any TCP port: method, URI, Host, User-Agent and whether Basic credentials were sent."""

from __future__ import annotations

import binascii

from sensor.protocols.extractor import PacketContext, PortBasedExtractor
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


class HttpExtractor(PortBasedExtractor):
    tcp_ports = frozenset((80, 3128, 8000, 8008, 8080, 8888))

    @staticmethod
    def sniff(payload: bytes) -> bool:
        return payload.startswith(METHODS)

    def on_payload(self, ctx: PacketContext, payload: bytes) -> list[Event]:
        if not payload.startswith(METHODS):
            return []
        head_end = payload.find(b"\r\n\r\n", 0, MAX_HEAD)
        lines = payload[: head_end if head_end >= 0 else MAX_HEAD].split(b"\r\n")
        request = lines[0].split(b" ")
        if len(request) != 3 or not request[2].startswith(b"HTTP/"):
            return []
        host = user_agent = b""
        auth_user: str | None = None
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"host":
                host = value.strip()
            elif name == b"user-agent":
                user_agent = value.strip()
            elif name == b"authorization":
                auth_user = basic_auth_user(value)
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
