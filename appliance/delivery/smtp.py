"""E-mail through the customer's own mail server: STARTTLS (submission, 587) or implicit TLS (465).

Plain SMTP without TLS is possible for a relay on the local network ("none"), never a silent fallback: a
server that does not offer STARTTLS when it was asked for fails the delivery. Certificates are checked.
"""

from __future__ import annotations

import smtplib
import socket
import ssl
from email.message import EmailMessage
from typing import Literal

import msgspec

from appliance.delivery.destinations import EgressPolicy, tls_context
from appliance.delivery.errors import DeliveryError

Security = Literal["starttls", "tls", "none"]


class SmtpServer(msgspec.Struct, frozen=True, kw_only=True):
    host: str
    port: int
    security: Security
    username: str | None = None
    password: str | None = None
    ca_pem: str | None = None


def send_mail(server: SmtpServer, message: EmailMessage, timeout: float = 30.0) -> str:
    """Hand `message` to the server (at-least-once: a crash after the server's 250 sends it again, with the
    same Message-ID). Returns a note naming the recipients it refused while accepting others, else ""."""
    EgressPolicy.from_environment().check(server.host)
    where = f"{server.host}:{server.port}"
    try:
        client = _connect(server, timeout)
        with client:
            if server.security == "starttls":
                _starttls(client, server, where)
            if server.username:
                client.login(server.username, server.password or "")
            refused = client.send_message(message)
    except smtplib.SMTPNotSupportedError as error:
        raise DeliveryError(f"{where}: {error}") from error
    except smtplib.SMTPAuthenticationError as error:
        raise DeliveryError(f"{where} refused the login: {_reply(error)}") from error
    except smtplib.SMTPRecipientsRefused as error:
        codes = [code for code, _ in error.recipients.values()]
        raise DeliveryError(f"{where} refused every recipient: {_refusals(error.recipients)}",
                            permanent=all(500 <= code < 600 for code in codes)) from error
    except (smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as error:
        raise DeliveryError(f"{where} refused the message: {_reply(error)}",
                            permanent=500 <= error.smtp_code < 600) from error
    except ssl.SSLCertVerificationError as error:
        raise DeliveryError(f"{where}: the server's certificate does not verify ({error.verify_message})") from error
    except (smtplib.SMTPException, OSError) as error:
        raise DeliveryError(f"{where}: {error}") from error
    # Some recipients took it: the message is delivered (sending again would repeat it to them).
    return f"{where} refused some recipients: {_refusals(refused)}" if refused else ""


def _starttls(client: smtplib.SMTP, server: SmtpServer, where: str) -> None:
    try:
        client.starttls(context=tls_context(server.ca_pem))
    except smtplib.SMTPNotSupportedError as error:
        raise DeliveryError(f"{where} does not offer STARTTLS; nothing was sent in clear") from error
    client.ehlo()


def _connect(server: SmtpServer, timeout: float) -> smtplib.SMTP:
    # The kernel's host name for EHLO: smtplib's default (getfqdn) would look the box up in DNS.
    name = socket.gethostname()
    if server.security == "tls":
        return smtplib.SMTP_SSL(server.host, server.port, local_hostname=name, timeout=timeout,
                                context=tls_context(server.ca_pem))
    return smtplib.SMTP(server.host, server.port, local_hostname=name, timeout=timeout)


def _reply(error: smtplib.SMTPResponseException) -> str:
    text = error.smtp_error.decode(errors="replace") if isinstance(error.smtp_error, bytes) else str(error.smtp_error)
    return f"{error.smtp_code} {text}"


def _refusals(recipients: dict) -> str:
    return "; ".join(f"{address}: {code} {reply.decode(errors='replace') if isinstance(reply, bytes) else reply}"
                     for address, (code, reply) in recipients.items())
