"""Send one message over one channel: format it for the channel's kind, hand it to the transport."""

from __future__ import annotations

from appliance.delivery import smtp, syslog, webhook
from appliance.notifications import formats
from appliance.notifications.messages import Message
from appliance.notifications.models import ChannelSettings, EmailSettings, SyslogSettings, WebhookSettings

SEND_TIMEOUT_SECONDS = 30.0


def send(settings: ChannelSettings, message: Message, timeout: float = SEND_TIMEOUT_SECONDS) -> str:
    """Deliver or raise DeliveryError. Returns a note for the outbox ("" when all went well)."""
    match settings:
        case EmailSettings():
            server = smtp.SmtpServer(host=settings.host, port=settings.port, security=settings.security,
                                     username=settings.username, password=settings.password, ca_pem=settings.ca_pem)
            return smtp.send_mail(server, formats.email(settings, message), timeout)
        case SyslogSettings():
            target = syslog.SyslogTarget(host=settings.host, port=settings.port, transport=settings.transport,
                                         ca_pem=settings.ca_pem)
            syslog.send(target, [formats.syslog_line(settings, message)], timeout)
            return ""
        case WebhookSettings():
            webhook.post(settings.url, formats.webhook_body(settings.format, message), message_id=message.message_id,
                         event=message.kind, secret=settings.secret, ca_pem=settings.ca_pem, timeout=timeout)
            return ""
    raise TypeError(f"no transport for {type(settings).__name__}")


def describe_destination(settings: ChannelSettings) -> str:
    """Where the messages go, for the admin ("smtp.example.com:587 (STARTTLS) to ops@example.com")."""
    match settings:
        case EmailSettings():
            security = {"starttls": "STARTTLS", "tls": "implicit TLS", "none": "NOT ENCRYPTED"}[settings.security]
            return f"{settings.host}:{settings.port} ({security}) to {', '.join(settings.to)}"
        case SyslogSettings():
            transport = {"udp": "UDP, no confirmation", "tcp": "TCP, NOT ENCRYPTED", "tls": "TLS"}[settings.transport]
            return f"{settings.host}:{settings.port} ({transport})"
        case WebhookSettings():
            return f"{settings.url} ({settings.format} format)"
    raise TypeError(type(settings).__name__)
