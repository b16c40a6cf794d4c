from __future__ import annotations

import base64

from scapy.all import IP, TCP, Raw
from scapy.layers.http import HTTP, HTTPRequest

from sensor.records import CleartextLoginEvent, HttpRequestEvent, SshBannerEvent
from tests.sensor_protocols.protocol_payloads import run_capture, run_crafted, wire_bytes

PASSWORD = "s3cr3t-Pa55"


def test_basic_auth_request_names_the_user_and_never_carries_the_password():
    request = HTTP() / HTTPRequest(
        Method=b"GET",
        Path=b"/admin/config",
        Host=b"nas.lan",
        User_Agent=b"curl/8.5.0",
        Authorization=b"Basic " + base64.b64encode(f"alice:{PASSWORD}".encode()),
    )
    events = run_crafted(
        IP(src="10.0.0.2", dst="10.0.0.8") / TCP(sport=51000, dport=80, flags="PA") / request
    )
    http, login = events
    assert isinstance(http, HttpRequestEvent) and isinstance(login, CleartextLoginEvent)
    assert (http.method, http.uri, http.host, http.user_agent) == (
        "GET",
        "/admin/config",
        "nas.lan",
        "curl/8.5.0",
    )
    assert (http.basic_auth, http.basic_auth_user) == (True, "alice")
    assert (login.protocol, login.username, login.password_seen) == ("http_basic", "alice", True)
    wire = wire_bytes(events)
    assert PASSWORD.encode() not in wire
    assert base64.b64encode(f"alice:{PASSWORD}".encode()) not in wire


def test_requests_on_any_port_are_found_by_their_request_line():
    events = run_capture("http-post-file.pcap")  # HTTP on port 8065 over IPv6 loopback
    assert [e.method for e in events] == ["POST"] * 3
    assert all(e.host == "localhost:8065" and not e.basic_auth for e in events)
    assert events[1].uri == "/api/v4/uploads"


def test_response_bodies_and_non_http_payloads_yield_nothing():
    packet = IP(src="10.0.0.8", dst="10.0.0.2") / TCP(sport=80, dport=51000, flags="PA")
    assert (
        run_crafted(packet / Raw(b"HTTP/1.1 200 OK\r\n\r\nGET / HTTP/1.1"), packet / Raw(b"GET nothing"))
        == []
    )


def test_ssh_banners_from_both_sides():
    events = run_capture("icmp-and-ssh.pcap")
    assert all(isinstance(e, SshBannerEvent) for e in events)
    assert {(e.from_server, e.banner) for e in events} == {
        (False, "SSH-2.0-OpenSSH_8.2p1 Ubuntu-4ubuntu0.3"),
        (True, "SSH-2.0-OpenSSH_7.9p1 Debian-10+deb10u2"),
    }


def test_ssh_off_its_port_is_found_by_its_banner():
    server = IP(src="10.0.0.9", dst="10.0.0.2") / TCP(sport=2200, dport=41000, flags="PA")
    [event] = run_crafted(
        server / Raw(b"SSH-2.0-dropbear_2022.83\r\n"), server / Raw(b"\x00\x00\x01\x0c\x0a\x14")
    )
    assert (event.banner, event.from_server) == ("SSH-2.0-dropbear_2022.83", True)


def test_encrypted_and_unknown_tcp_flows_yield_nothing():
    assert run_capture("rdp-session.pcap") == []
    assert run_capture("smb1-session.pcap") == []
