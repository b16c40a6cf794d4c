"""Each transport against a real receiver on loopback, with a CA of the test's own."""

from __future__ import annotations

import email
import email.policy
import time

import pytest

from appliance.delivery import syslog, webhook
from appliance.delivery.errors import DeliveryError
from appliance.delivery.smtp import SmtpServer, send_mail
from appliance.notifications import formats
from appliance.notifications.messages import sample_message
from appliance.notifications.models import Content, EmailSettings, NotificationSettings
from tests.notifications.receivers import SMTP_PASSWORD, SMTP_USER, make_ca, smtp_server

BOX = NotificationSettings(box_name="office-box", box_url="https://netsenx.example.lan")


def mail_settings(port: int, ca_pem: str, security: str = "starttls", password: str = SMTP_PASSWORD) -> EmailSettings:
    return EmailSettings(host="127.0.0.1", port=port, security=security, username=SMTP_USER, password=password,
                         from_address="netsenx@example.org", from_name="Office box", to=["soc@example.org"],
                         ca_pem=ca_pem)


def server_of(settings: EmailSettings) -> SmtpServer:
    return SmtpServer(host=settings.host, port=settings.port, security=settings.security,
                      username=settings.username, password=settings.password, ca_pem=settings.ca_pem)


@pytest.mark.parametrize("implicit_tls", [False, True], ids=["starttls", "implicit-tls"])
def test_mail_arrives_encrypted_authenticated_and_recognisable(ca, implicit_tls):
    with smtp_server(ca, implicit_tls=implicit_tls) as (port, mailbox):
        settings = mail_settings(port, ca.ca_pem, "tls" if implicit_tls else "starttls")
        message = sample_message(Content(), BOX, "nsx-0123", time.time())
        send_mail(server_of(settings), formats.email(settings, message))
    (mail_from, recipients, raw, over_tls), = mailbox.received
    parsed = email.message_from_bytes(raw, policy=email.policy.default)
    assert over_tls and mailbox.logins == [SMTP_USER]
    assert (mail_from, recipients) == ("netsenx@example.org", ["soc@example.org"])
    assert parsed["Message-ID"] == "<nsx-0123@example.org>"
    assert parsed["From"] == "Office box <netsenx@example.org>"
    assert parsed["Subject"].startswith("[office-box] TEST from office-box")
    body = parsed.get_content()
    for expected in ("What:", "Who:      192.0.2.10 → 192.0.2.20", "Since:", "Severity: HIGH, score 0.93",
                     "distinct_ports = 48 (+2.10)", "https://netsenx.example.lan/#/alerts/"):
        assert expected in body


def test_a_wrong_password_and_an_untrusted_certificate_fail_with_the_reason(ca, tmp_path):
    with smtp_server(ca, implicit_tls=False) as (port, _):
        with pytest.raises(DeliveryError, match="refused the login"):
            send_mail(server_of(mail_settings(port, ca.ca_pem, password="wrong")),
                      formats.email(mail_settings(port, ca.ca_pem), sample_message(Content(), BOX, "x", 0)))
        other_ca = make_ca(tmp_path / "other")
        with pytest.raises(DeliveryError, match="certificate does not verify"):
            send_mail(server_of(mail_settings(port, other_ca.ca_pem)),
                      formats.email(mail_settings(port, ca.ca_pem), sample_message(Content(), BOX, "x", 0)))


def test_starttls_asked_for_is_never_skipped(ca):
    """A server that offers no STARTTLS gets nothing in clear."""
    from aiosmtpd.controller import Controller

    from tests.notifications.receivers import Mailbox

    mailbox = Mailbox()
    plain = Controller(mailbox, hostname="127.0.0.1", port=0)
    plain.port = __import__("tests.conftest", fromlist=["free_port"]).free_port()
    plain.start()
    try:
        settings = mail_settings(plain.port, ca.ca_pem)
        with pytest.raises(DeliveryError, match="does not offer STARTTLS"):
            send_mail(server_of(settings), formats.email(settings, sample_message(Content(), BOX, "x", 0)))
    finally:
        plain.stop()
    assert mailbox.received == []


def test_webhook_signature_verifies_and_a_tampered_body_does_not(ca, receiver):
    secret = webhook.new_secret()
    receiver.secret = secret
    body = b'{"hello": "world"}'
    assert webhook.post(receiver.url(), body, message_id="nsx-1", event="test", secret=secret, ca_pem=ca.ca_pem) == 200
    delivery, = receiver.deliveries
    assert delivery.verified and delivery.body == body
    assert delivery.headers["webhook-id"] == delivery.headers["idempotency-key"] == "nsx-1"
    assert not webhook.verify(secret, delivery.headers, body + b" ")
    assert not webhook.verify(secret, delivery.headers, body, now=time.time() + webhook.TOLERANCE_SECONDS + 5)
    assert not webhook.verify(webhook.new_secret(), delivery.headers, body)


@pytest.mark.parametrize(("answer", "permanent"), [(500, False), (503, False), (429, False), (400, True), (410, True),
                                                   (301, True)])
def test_webhook_answers_decide_between_retrying_and_giving_up(ca, receiver, answer, permanent):
    receiver.answers = [answer]
    with pytest.raises(DeliveryError) as failure:
        webhook.post(receiver.url(), b"{}", message_id="nsx-2", event="alert", secret=None, ca_pem=ca.ca_pem)
    assert failure.value.permanent is permanent


def syslog_lines(count: int) -> list[bytes]:
    return [syslog.format_message(facility=16, severity=3, at=1_700_000_000.25, hostname="office box",
                                  app_name="netsenx", msgid="ALERT", params={"n": index, "quote": 'a"b]c'},
                                  text=f"message {index} ünïcode") for index in range(count)]


@pytest.mark.parametrize("transport", ["tcp", "tls"])
def test_rsyslog_takes_rfc5424_over_tcp_and_tls(ca, rsyslog, transport):
    port = rsyslog.tcp_port if transport == "tcp" else rsyslog.tls_port
    target = syslog.SyslogTarget(host="127.0.0.1", port=port, transport=transport, ca_pem=ca.ca_pem)
    assert syslog.send(target, syslog_lines(3)) == 3
    lines = rsyslog.wait_for(3)
    assert len(lines) == 3
    for index, line in enumerate(lines):
        assert line.startswith(f"{transport} ALERT 3 officebox [netsenx@32473 n=\"{index}\" quote=\"a\\\"b\\]c\"]")
        assert line.endswith(f"message {index} ünïcode")


def test_syslog_timestamp_and_header_follow_rfc5424():
    line = syslog_lines(1)[0].decode()
    assert line.startswith("<131>1 2023-11-14T22:13:20.250000Z officebox netsenx - ALERT [netsenx@32473 ")
