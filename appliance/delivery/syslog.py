"""Syslog as RFC 5424 says it, over UDP (RFC 5426), TCP (RFC 6587 octet counting) or TLS (RFC 5425).

Over TCP and TLS a page of messages counts as delivered only once the receiver has read all of it: after the
last message the box closes its sending side and waits for the receiver to close too, which it does only after
reading up to that point (rsyslog, syslog-ng). UDP has no such answer: a datagram is sent once and may be lost,
which is why the admin UI recommends TCP or TLS.

Structured data uses the SD-ID `netsenx@32473`: 32473 is the private enterprise number RFC 5612 reserves for
documentation, as the vendor has none registered yet.
"""

from __future__ import annotations

import datetime
import socket
import ssl
from collections.abc import Iterable
from typing import Literal

import msgspec

from appliance.delivery import destinations
from appliance.delivery.errors import DeliveryError

Transport = Literal["udp", "tcp", "tls"]
SD_ID = "netsenx@32473"
NIL = "-"
MAX_UDP_MESSAGE = 65_000  # a datagram this box sends whole or not at all


class SyslogTarget(msgspec.Struct, frozen=True, kw_only=True):
    host: str
    port: int
    transport: Transport
    ca_pem: str | None = None


def _header_field(value: str, limit: int) -> str:
    """PRINTUSASCII without spaces, at most `limit` characters; NILVALUE when nothing is left."""
    cleaned = "".join(character for character in value if 33 <= ord(character) <= 126)[:limit]
    return cleaned or NIL


def _sd_name(value: str) -> str:
    return "".join(character for character in _header_field(value, 32) if character not in '="]')


def _sd_value(value: object) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def structured_data(params: dict[str, object]) -> str:
    """One SD-ELEMENT of this box's SD-ID; parameters whose value is None are left out."""
    if not params:
        return NIL
    body = " ".join(f'{_sd_name(name)}="{_sd_value(value)}"' for name, value in params.items() if value is not None)
    return f"[{SD_ID} {body}]" if body else f"[{SD_ID}]"


def timestamp(epoch: float) -> str:
    moment = datetime.datetime.fromtimestamp(epoch, tz=datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def format_message(
    *,
    facility: int,
    severity: int,
    at: float,
    hostname: str,
    app_name: str,
    msgid: str,
    params: dict[str, object],
    text: str,
) -> bytes:
    """One RFC 5424 message. MSG is UTF-8 without a BOM (MSG-ANY): JSON parsers downstream read it as is."""
    priority = facility * 8 + severity
    header = (f"<{priority}>1 {timestamp(at)} {_header_field(hostname, 255)} {_header_field(app_name, 48)} "
              f"{NIL} {_header_field(msgid, 32)}")
    return f"{header} {structured_data(params)} {text}".encode()


def frame(message: bytes) -> bytes:
    """RFC 6587 octet counting (the only framing RFC 5425 allows over TLS)."""
    return str(len(message)).encode() + b" " + message


def send(target: SyslogTarget, messages: Iterable[bytes], timeout: float = 30.0) -> int:
    """Send every message; returns how many. Raises DeliveryError when the receiver did not take them all."""
    if target.transport == "udp":
        return _send_udp(target, messages)
    connection = destinations.connect(target.host, target.port, timeout)
    where = f"{target.host}:{target.port}"
    try:
        if target.transport == "tls":
            connection = _wrap_tls(connection, target, where)
        count = 0
        for message in messages:
            connection.sendall(frame(message))
            count += 1
        _close_confirmed(connection, where)
        return count
    except DeliveryError:
        raise
    except OSError as error:
        raise DeliveryError(f"{where}: the connection broke while sending ({error})") from error
    finally:
        connection.close()


def _wrap_tls(connection: socket.socket, target: SyslogTarget, where: str) -> ssl.SSLSocket:
    try:
        return destinations.tls_context(target.ca_pem).wrap_socket(connection, server_hostname=target.host)
    except ssl.SSLCertVerificationError as error:
        connection.close()
        raise DeliveryError(f"{where}: the receiver's certificate does not verify ({error.verify_message})") from error
    except (ssl.SSLError, OSError) as error:
        connection.close()
        raise DeliveryError(f"{where}: TLS handshake failed ({error})") from error


def _close_confirmed(connection: socket.socket, where: str) -> None:
    """Close our side and wait for the receiver to close its own: then it has read everything we sent."""
    try:
        if isinstance(connection, ssl.SSLSocket):
            try:
                connection = connection.unwrap()  # close_notify; returns once the receiver answered or closed
            except (ssl.SSLEOFError, ssl.SSLZeroReturnError, ConnectionResetError):
                return  # the receiver closed the connection after reading our close_notify
        connection.shutdown(socket.SHUT_WR)
        while connection.recv(4096):
            pass  # a syslog receiver sends nothing; anything it does is drained until it closes
    except TimeoutError as error:
        raise DeliveryError(f"{where} did not confirm it read the messages (no close within the timeout)") from error


def _send_udp(target: SyslogTarget, messages: Iterable[bytes]) -> int:
    sender, address = destinations.udp_socket(target.host, target.port)
    count = 0
    with sender:
        for message in messages:
            if len(message) > MAX_UDP_MESSAGE:
                raise DeliveryError(f"a {len(message)}-byte message does not fit a UDP datagram: use TCP or TLS",
                                    permanent=True)
            try:
                sender.sendto(message, address)
            except OSError as error:
                raise DeliveryError(f"{target.host}:{target.port}: {error.strerror or error}") from error
            count += 1
    return count
