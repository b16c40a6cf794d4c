from __future__ import annotations

import base64

from scapy.all import IP, TCP, Raw

from sensor.records import CleartextLoginEvent
from tests.sensor_protocols.protocol_payloads import run_capture, run_crafted, wire_bytes

PASSWORD = b"hunter2-Very-Secret"
CLIENT, SERVER = "10.0.0.2", "10.0.0.25"


def conversation(port: int, *turns: tuple[str, bytes]) -> list:
    """Events for a scripted exchange: ("c", data) from the client, ("s", data) from the server."""
    to_server = IP(src=CLIENT, dst=SERVER) / TCP(sport=40000, dport=port, flags="PA")
    to_client = IP(src=SERVER, dst=CLIENT) / TCP(sport=port, dport=40000, flags="PA")
    return run_crafted(*((to_server if side == "c" else to_client) / Raw(data) for side, data in turns))


def only_login(events: list) -> CleartextLoginEvent:
    assert PASSWORD not in wire_bytes(events)
    assert base64.b64encode(PASSWORD) not in wire_bytes(events)
    [event] = events
    assert isinstance(event, CleartextLoginEvent) and event.src_ip == CLIENT
    return event


def test_ftp_capture_names_bob_and_never_the_password():
    events = run_capture("ftp-cleartext-login.pcap")
    [event] = events
    assert (event.protocol, event.username, event.password_seen) == ("ftp", "bob", True)
    assert event.dst_port == 21 and event.src_ip == "172.23.0.3"
    # the capture's password is the word "password": it must not appear outside the field name
    assert b"password" not in wire_bytes(events).replace(b"password_seen", b"")


def test_pop3_user_pass_and_apop():
    event = only_login(
        conversation(
            110, ("s", b"+OK ready\r\n"), ("c", b"USER carol\r\n"), ("c", b"PASS " + PASSWORD + b"\r\n")
        )
    )
    assert (event.protocol, event.username, event.password_seen) == ("pop3", "carol", True)
    event = only_login(conversation(110, ("c", b"APOP dave c4c9334bac560ecc979e58001b3e22fb\r\n")))
    assert (event.protocol, event.username) == ("pop3", "dave")


def test_imap_login_with_quoted_user_name():
    event = only_login(conversation(143, ("c", b'a001 LOGIN "erin \\"e\\" smith" ' + PASSWORD + b"\r\n")))
    assert (event.protocol, event.username, event.password_seen) == ("imap", 'erin "e" smith', True)


def test_imap_authenticate_plain_with_the_credentials_on_the_next_line():
    plain = base64.b64encode(b"\0frank\0" + PASSWORD)
    event = only_login(
        conversation(143, ("c", b"a002 AUTHENTICATE PLAIN\r\n"), ("s", b"+ \r\n"), ("c", plain + b"\r\n"))
    )
    assert (event.protocol, event.username, event.password_seen) == ("imap", "frank", True)


def test_smtp_auth_plain_inline_and_auth_login_in_steps():
    plain = base64.b64encode(b"\0grace\0" + PASSWORD)
    event = only_login(conversation(587, ("c", b"EHLO me\r\nAUTH PLAIN " + plain + b"\r\n")))
    assert (event.protocol, event.username) == ("smtp", "grace")
    event = only_login(
        conversation(
            25,
            ("c", b"AUTH LOGIN\r\n"),
            ("s", b"334 VXNlcm5hbWU6\r\n"),
            ("c", base64.b64encode(b"heidi") + b"\r\n"),
            ("s", b"334 UGFzc3dvcmQ6\r\n"),
            ("c", base64.b64encode(PASSWORD) + b"\r\n"),
        )
    )
    assert (event.protocol, event.username, event.password_seen) == ("smtp", "heidi", True)


def test_smtp_challenge_response_mechanisms_are_not_cleartext():
    assert conversation(25, ("c", b"AUTH CRAM-MD5\r\n"), ("c", b"aGVpZGkgMTIzNDU2Nzg5MA==\r\n")) == []


def typed(text: bytes) -> list[tuple[str, bytes]]:
    """A Telnet client in character mode: one segment per key."""
    return [("c", bytes([ch])) for ch in text]


def test_telnet_login_typed_character_by_character_after_option_negotiation():
    turns = [
        ("s", b"\xff\xfd\x18\xff\xfd\x20\xff\xfb\x01"),
        ("c", b"\xff\xfc\x18\xff\xfa\x18\x00xterm\xff\xf0"),
        ("s", b"\r\nrouter login: "),
        *typed(b"ivaX\x7fn\r\n"),  # a typo erased with DEL
        ("s", b"\r\nPassword: "),
        *typed(PASSWORD + b"\r\n"),
    ]
    event = only_login(conversation(23, *turns))
    assert (event.protocol, event.username, event.password_seen) == ("telnet", "ivan", True)


def test_telnet_banner_mentioning_login_is_not_a_prompt():
    turns = [
        ("s", b"login: "),
        *typed(b"ivan\r"),
        ("s", b"Password: "),
        *typed(PASSWORD + b"\r"),
        ("s", b"\r\nLast login: Mon Nov 23 on tty1\r\n$ "),
        *typed(b"su -\r"),
        ("s", b"Password: "),
        *typed(PASSWORD + b"\r"),
    ]
    events = conversation(23, *turns)
    assert PASSWORD not in wire_bytes(events)
    # both passwords crossed in clear; the shell command after "Last login:" was not taken for a user name
    assert [e.username for e in events] == ["ivan", "ivan"]
