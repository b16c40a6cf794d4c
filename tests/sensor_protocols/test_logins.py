"""Login attempts and their outcomes per flow, through the whole pipeline, on real captures.

The expected numbers were read off the packets with tshark (its dissectors for FTP, POP3, SMTP, MySQL,
PostgreSQL, LDAP, RFB and Redis, and the TCP segment sizes for SSH); the SSH ones also match Zeek's own
baseline for ssh.pcap (testing/btest/Baseline/scripts.base.protocols.ssh.basic: auth_success, auth_attempts).
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from scapy.all import IP, TCP, PcapWriter, Raw, rdpcap

from sensor.pipeline import Pipeline
from sensor.protocols import MetadataExtractor
from sensor.records import CleartextLoginEvent, SshBannerEvent
from tests.sensor_protocols.protocol_payloads import crafted, run_packets, wire_bytes, with_originators
from tests.shared_data import PCAPS

ZEEK = PCAPS / "zeek-traces"


def run(path):
    pipeline = Pipeline()
    pipeline.feed_file(path)
    drained = pipeline.close()
    assert pipeline.extractor_errors == 0 and pipeline.extractor.errors == 0
    return drained


def logins(path) -> dict[int, tuple[str, int, int, int]]:
    """Per client port: (service, attempts, failures, successes) of the flows with any attempt."""
    return {f.src_port: (f.service, f.auth_attempts, f.auth_failures, f.auth_successes)
            for f in run(path).flows if f.auth_attempts}


def test_ssh_attempts_inside_encrypted_sessions_match_zeek():
    found = logins(ZEEK / "ssh" / "ssh.pcap")
    # (client port: attempts, success) as Zeek's baseline has them
    zeek = {40184: (1, True), 57189: (3, True), 59246: (2, True), 41164: (5, True), 33910: (1, True),
            41268: (6, False), 52294: (2, True), 51489: (3, True), 58641: (1, False), 58646: (1, True),
            58649: (1, True)}
    for port, (attempts, success) in zeek.items():
        service, seen, failures, successes = found[port]
        assert (service, seen, successes, failures) == ("ssh", attempts, int(success), attempts - int(success))
    # Two more than the baseline counts, read off the segment sizes: 51880's server answers 80 bytes three
    # times after a 896-byte banner (the first is the "none" probe's answer); 55179's paramiko server answers
    # the "none" probe with USERAUTH_SUCCESS (SERVICE_ACCEPT 48 bytes, then 32).
    assert found[51880] == ("ssh", 2, 2, 0)
    assert found[55179] == ("ssh", 1, 0, 1)
    assert set(found) == set(zeek) | {51880, 55179}  # the SSH-1 sessions of the trace: sizes say nothing


def rewritten(path: Path, server_port: int, new_port: int, out: Path, client_ports: set[int]) -> Path:
    """The connections of `client_ports` to `server_port`, moved to `new_port`."""
    writer = PcapWriter(str(out), sync=True)
    for packet in rdpcap(str(path)):
        if TCP not in packet or not {packet[TCP].sport, packet[TCP].dport} & client_ports:
            continue
        tcp = packet[TCP]
        if tcp.dport == server_port:
            tcp.dport = new_port
        if tcp.sport == server_port:
            tcp.sport = new_port
        del tcp.chksum
        writer.write(packet)
    writer.close()
    return out


def test_ssh_on_a_non_standard_port_counts_each_guess(tmp_path):
    # two real OpenSSH sessions (3.4 server, 6.6 client) moved from 22 to 4022: six failed passwords in one
    # connection; four failures and a success in the other
    path = rewritten(ZEEK / "ssh" / "ssh.pcap", 22, 4022, tmp_path / "ssh-4022.pcap", {41268, 41164})
    drained = run(path)
    flows = {f.src_port: f for f in drained.flows}
    assert {p: (f.dst_port, f.service, f.auth_attempts, f.auth_failures, f.auth_successes)
            for p, f in flows.items()} == {41268: (4022, "ssh", 6, 6, 0), 41164: (4022, "ssh", 5, 4, 1)}
    banners = {(e.flow_uid, e.from_server, e.banner) for e in drained.events if isinstance(e, SshBannerEvent)}
    assert (flows[41268].uid, True, "SSH-1.99-OpenSSH_3.4+p1+gssapi+OpenSSH_3.7.1buf_fix+2006100301") in banners
    assert (flows[41268].uid, False, "SSH-2.0-OpenSSH_6.6") in banners


def test_ftp_on_another_port_gets_its_login_events_and_outcomes(tmp_path):
    # ftp/bruteforce.pcap: 30 connections, each USER bro / PASS <n> answered 530; moved from 21 to 2121
    path = rewritten(ZEEK / "ftp" / "bruteforce.pcap", 21, 2121, tmp_path / "ftp-2121.pcap",
                     {packet[TCP].sport for packet in rdpcap(str(ZEEK / "ftp" / "bruteforce.pcap"))
                      if TCP in packet and packet[TCP].dport == 21})
    drained = run(path)
    assert {(f.dst_port, f.service, f.auth_attempts, f.auth_failures) for f in drained.flows} == {
        (2121, "ftp", 1, 1)}
    assert len(drained.flows) == 30
    logins_seen = [e for e in drained.events if isinstance(e, CleartextLoginEvent)]
    assert len(logins_seen) == 30 and {e.protocol for e in logins_seen} == {"ftp"}


@pytest.mark.parametrize(("capture", "expected"), [
    # USER bro / PASS <n> -> 530 Login incorrect, 30 connections
    ("ftp/bruteforce.pcap", {("ftp", 1, 1, 0): 30}),
    # USER Admin / PASS qwerty -> 530
    ("ftp/ftp-password-pass-command.pcap", {("ftp", 1, 1, 0): 1}),
    # anonymous login -> 230
    ("ftp/retr.pcap", {("ftp", 1, 0, 1): 1}),
    # AUTH PLAIN -> -ERR authentication failed (one connection), -> +OK mailbox ... (two)
    ("pop3/pop3.pcap", {("pop3", 1, 1, 0): 1, ("pop3", 1, 0, 1): 2}),
    # AUTH LOGIN, 334, 334 -> 235
    ("smtp.pcap", {("smtp", 1, 0, 1): 1}),
    # nine handshake responses answered ERR 1045, one OK; three connections refused at the greeting (1130)
    ("mysql/auth.pcap", {("mysql", 1, 1, 0): 9, ("mysql", 1, 0, 1): 1}),
    # handshake response, auth switch, more data -> ERR 1045 (its segments are all retransmitted once)
    ("mysql/mysql8-navicat-login-failed.pcap", {("mysql", 1, 1, 0): 1}),
    # login OK, then COM_CHANGE_USER root2 -> ERR 1045
    ("mysql/change-user-error.pcap", {("mysql", 2, 1, 1): 1}),
    # SCRAM exchange -> ErrorResponse 28P01
    ("postgresql/psql-login-fail.pcap", {("postgresql", 1, 1, 0): 1}),
    ("postgresql/psql-login-wrong.pcap", {("postgresql", 1, 1, 0): 1}),
    # AuthenticationOk, then ErrorResponse 28000 (role "test" does not exist)
    ("postgresql/psql-login-no-role.pcap", {("postgresql", 1, 1, 0): 1}),
    # SCRAM -> AuthenticationOk ... ReadyForQuery
    ("postgresql/psql-login.pcap", {("postgresql", 1, 0, 1): 1}),
    # twelve SASL binds, each 14 (in progress) then 49 invalidCredentials
    ("ldap/ldap_invalid_credentials.pcap", {("ldap", 12, 12, 0): 1}),
    # simple bind on 3268 -> 0 (and a second bind after it, within the grace payloads)
    ("ldap/simpleauth.pcap", {("ldap", 2, 0, 2): 1}),
    # RFB 3.3 VNC authentication: SecurityResult 1, and 0 on the next connection
    ("rfb/vnc-mac-to-linux.pcap", {("vnc", 1, 1, 0): 1, ("vnc", 1, 0, 1): 1}),
    # a scanner's VNC authentication -> SecurityResult 1 "Authentication failed from ..."
    ("rfb/vnc-scanner.pcap", {("vnc", 1, 1, 0): 1}),
    # AUTH notauser -> -WRONGPASS, AUTH default -> +OK, AUTH noone -> -WRONGPASS
    ("redis/auth.pcap", {("redis", 3, 2, 1): 1}),
    # NTLM SESSION_SETUP: MORE_PROCESSING_REQUIRED, then SUCCESS
    ("smb/smb3.pcap", {("smb", 1, 0, 1): 1}),
])
def test_login_outcomes_on_real_captures(capture, expected):
    counted: dict[tuple[str, int, int, int], int] = {}
    for outcome in logins(ZEEK / capture).values():
        counted[outcome] = counted.get(outcome, 0) + 1
    assert counted == expected


# ---- crafted exchanges, for the protocols no shared capture shows failing and succeeding -------------------

CLIENT, SERVER = "10.0.0.2", "10.0.0.25"
SECRET = b"hunter2-Very-Secret"


def scripted(port: int, *turns: tuple[str, bytes]) -> tuple[list, tuple[str, tuple[int, int, int]]]:
    """Events, and the flow's (service, (attempts, failures, successes)), for ("c" | "s", data) turns on a port."""
    to_server = IP(src=CLIENT, dst=SERVER) / TCP(sport=40000, dport=port, flags="PA")
    to_client = IP(src=SERVER, dst=CLIENT) / TCP(sport=port, dport=40000, flags="PA")
    pairs = with_originators([crafted((to_server if side == "c" else to_client) / Raw(data)) for side, data in turns])
    extractor = MetadataExtractor()
    events = run_packets(pairs, extractor)
    [learnt] = extractor.take_findings().learnt.values()
    assert SECRET not in wire_bytes(events)
    return events, (learnt.service, learnt.auth)


def test_imap_tagged_no_and_ok():
    _, found = scripted(
        1143, ("s", b"* OK [CAPABILITY IMAP4rev1] ready\r\n"),
        ("c", b"a001 LOGIN erin " + SECRET + b"\r\n"), ("s", b"* BYE maybe\r\na001 NO [AUTHENTICATIONFAILED] bad\r\n"),
        ("c", b"a002 LOGIN erin " + SECRET + b"\r\n"), ("s", b"* CAPABILITY IMAP4rev1\r\na002 OK Logged in\r\n"))
    assert found == ("imap", (2, 1, 1))


def test_smtp_auth_plain_refused_then_cram_md5_accepted():
    plain = base64.b64encode(b"\0frank\0" + SECRET)
    _, found = scripted(
        2525, ("s", b"220 mail.example.org ESMTP Postfix\r\n"), ("c", b"EHLO client\r\n"),
        ("s", b"250-mail.example.org\r\n250 AUTH PLAIN CRAM-MD5\r\n"), ("c", b"AUTH PLAIN " + plain + b"\r\n"),
        ("s", b"535 5.7.8 Error: authentication failed\r\n"), ("c", b"AUTH CRAM-MD5\r\n"),
        ("s", b"334 PDQxOTI5NDIzNDEuMTI4Mjg0NzJAc291cmNlZm91ci5hbmRyZXcuY211LmVkdT4=\r\n"),
        ("c", b"ZnJhbmsgYjkxM2E2MDJjN2VkYTdhNDk1YjRlNmU3MzM0ZDM4OTA=\r\n"), ("s", b"235 2.7.0 ok\r\n"))
    assert found == ("smtp", (2, 1, 1))


def test_ftp_multi_line_230_is_one_success():
    _, found = scripted(
        2121, ("s", b"220 ProFTPD Server ready\r\n"), ("c", b"USER bob\r\n"), ("s", b"331 Password required\r\n"),
        ("c", b"PASS " + SECRET + b"\r\n"), ("s", b"230-Welcome\r\n230-Rules apply\r\n"), ("s", b"230 Logged in\r\n"))
    assert found == ("ftp", (1, 0, 1))


def typed(text: bytes) -> list[tuple[str, bytes]]:
    return [("c", bytes([c])) for c in text]


def test_telnet_login_incorrect_then_a_shell():
    _, found = scripted(
        2323, ("s", b"\xff\xfd\x18\xff\xfd\x20"), ("c", b"\xff\xfc\x18\xff\xfc\x20"), ("s", b"\r\nrouter login: "),
        *typed(b"ivan\r\n"), ("s", b"Password: "), *typed(b"guess\r\n"), ("s", b"\r\n"),
        ("s", b"Login incorrect\r\n\r\nrouter login: "), *typed(b"ivan\r\n"), ("s", b"Password: "),
        *typed(SECRET + b"\r\n"), ("s", b"\r\nLast login: Mon Nov 23 on tty1\r\n"), ("s", b"ivan@router:~$ "))
    assert found == ("telnet", (2, 1, 1))


def test_http_basic_and_ntlm_outcomes_from_the_status_lines():
    basic = b"Authorization: Basic " + base64.b64encode(b"alice:" + SECRET)
    ntlm_negotiate = base64.b64encode(b"NTLMSSP\0\x01\0\0\0" + b"\x07\x82\x08\xa2" + b"\0" * 16)
    ntlm_authenticate = base64.b64encode(b"NTLMSSP\0\x03\0\0\0" + b"\0" * 56)
    _, found = scripted(
        8081, ("c", b"GET /admin HTTP/1.1\r\nHost: nas\r\n" + basic + b"\r\n\r\n"),
        ("s", b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Basic\r\n\r\n"),
        ("c", b"GET / HTTP/1.1\r\nHost: nas\r\n\r\n"), ("s", b"HTTP/1.1 200 OK\r\n\r\n"),
        ("c", b"GET /admin HTTP/1.1\r\nHost: nas\r\nAuthorization: NTLM " + ntlm_negotiate + b"\r\n\r\n"),
        ("s", b"HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: NTLM TlRMTVNTUAACAAAA\r\n\r\n"),
        ("c", b"GET /admin HTTP/1.1\r\nHost: nas\r\nAuthorization: NTLM " + ntlm_authenticate + b"\r\n\r\n"),
        ("s", b"HTTP/1.1 100 Continue\r\n\r\n"), ("s", b"HTTP/1.1 200 OK\r\n\r\n"))
    assert found == ("http", (2, 1, 1))  # the negotiate message's 401 is a challenge, not a verdict


def smb2(command: int, status: int, response: bool) -> bytes:
    header = (b"\xfeSMB" + (64).to_bytes(2, "little") + b"\0\0" + status.to_bytes(4, "little")
              + command.to_bytes(2, "little") + b"\x01\0" + (1 if response else 0).to_bytes(4, "little")
              + b"\0" * 4 + b"\0" * 8 + b"\0" * 4 + b"\0" * 4 + b"\0" * 8 + b"\0" * 16)
    body = b"\x19\0" + b"\0" * 23 if not response else b"\x09\0\0\0\x48\0\0\0"
    message = header + body
    return b"\0" + len(message).to_bytes(3, "big") + message


def test_smb2_session_setup_logon_failure_then_success():
    more, failure = 0xC0000016, 0xC000006D
    _, found = scripted(
        445, ("c", smb2(0, 0, False)), ("s", smb2(0, 0, True)),  # NEGOTIATE
        ("c", smb2(1, 0, False)), ("s", smb2(1, more, True)), ("c", smb2(1, 0, False)), ("s", smb2(1, failure, True)),
        ("c", smb2(1, 0, False)), ("s", smb2(1, more, True)), ("c", smb2(1, 0, False)), ("s", smb2(1, 0, True)))
    assert found == ("smb", (2, 1, 1))


def test_ldap_anonymous_bind_is_no_login_attempt():
    anonymous = bytes.fromhex("300c020101600702010304008000")
    success = bytes.fromhex("300c02010161070a010004000400")
    _, found = scripted(3890, ("c", anonymous), ("s", success))
    assert found == ("ldap", (0, 0, 0))
