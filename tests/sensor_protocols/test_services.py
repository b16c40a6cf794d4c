"""Services named by what flows speak, not by their ports: against tshark's dissectors on the shared captures,
on real captures whose services sit on other ports, and on crafted look-alikes that must stay unnamed."""

from __future__ import annotations

import random
import subprocess
from collections import defaultdict
from pathlib import Path

import pytest
from scapy.all import IP, TCP, UDP, PcapWriter, Raw

from sensor.pipeline import Pipeline
from sensor.protocols import MetadataExtractor
from sensor.protocols.services import UDP_PORTS, identify
from tests.sensor_protocols.protocol_payloads import (
    capture_payloads,
    crafted,
    run_packets,
    with_originators,
)
from tests.shared_data import PCAPS, shared_files

ZEEK = PCAPS / "zeek-traces"
SHARED = [path.name for path in shared_files(PCAPS, "*.pcap")]

# tshark protocol names (frame.protocols) -> ours
TSHARK_NAMES = {"ssh": "ssh", "ftp": "ftp", "telnet": "telnet", "smtp": "smtp", "pop": "pop3", "imap": "imap",
                "http": "http", "tls": "tls", "rdp": "rdp", "smb": "smb", "smb2": "smb", "vnc": "vnc",
                "mysql": "mysql", "pgsql": "postgresql", "tds": "mssql", "resp": "redis", "ldap": "ldap",
                "kerberos": "kerberos", "dns": "dns", "mdns": "dns", "mbtcp": "modbus", "dnp3": "dnp3",
                "bvlc": "bacnet", "sip": "sip", "irc": "irc", "quic": "quic", "gquic": "quic", "ntp": "ntp",
                "dhcp": "dhcp", "snmp": "snmp", "mongo": "mongodb", "dcerpc": "dcerpc", "socks": "socks"}


def _conversation(a: str, a_port: int, b: str, b_port: int, proto: str) -> tuple:
    return (proto, *sorted([(a, a_port), (b, b_port)]))


def tshark_services(path: Path) -> dict[tuple, set[str]]:
    lines = subprocess.run(
        ["tshark", "-r", str(path), "-T", "fields", "-E", "separator=|", "-e", "ip.src", "-e", "ipv6.src", "-e",
         "ip.dst", "-e", "ipv6.dst", "-e", "tcp.srcport", "-e", "tcp.dstport", "-e", "udp.srcport", "-e",
         "udp.dstport", "-e", "frame.protocols"], check=True, capture_output=True, text=True).stdout.splitlines()
    found: dict[tuple, set[str]] = defaultdict(set)
    for line in lines:
        src4, src6, dst4, dst6, tsport, tdport, usport, udport, protocols = line.split("|")
        proto, sport, dport = ("TCP", tsport, tdport) if tsport else ("UDP", usport, udport)
        if not sport:
            continue
        key = _conversation((src4 or src6).split(",")[-1], int(sport.split(",")[0]),
                            (dst4 or dst6).split(",")[-1], int(dport.split(",")[0]), proto)
        names = {TSHARK_NAMES[p] for p in protocols.split(":") if p in TSHARK_NAMES}
        found[key] |= {"quic"} if "quic" in names else names  # QUIC's handshake is TLS inside it
    return found


def our_flows(path: Path):
    pipeline = Pipeline()
    pipeline.feed_file(path)
    flows = pipeline.close().flows
    assert pipeline.extractor.errors == 0
    return [f for f in flows if f.proto in ("TCP", "UDP") and (f.payload_orig or f.payload_resp)]


@pytest.mark.parametrize("name", SHARED)
def test_services_agree_with_tshark_on_the_shared_captures(name):
    theirs = tshark_services(PCAPS / name)
    for flow in our_flows(PCAPS / name):
        tshark = theirs.get(_conversation(flow.src_ip, flow.src_port, flow.dst_ip, flow.dst_port, flow.proto), set())
        # never a different name; and where both sides spoke, whatever tshark names, we name too
        assert not flow.service or tshark == {flow.service}, (flow, tshark)
        if flow.payload_orig and flow.payload_resp:
            assert {flow.service} - {""} == tshark, (flow, tshark)


@pytest.mark.parametrize(("capture", "port", "service"), [
    ("postgresql/http-on-port-5432.pcap", 5432, "http"),
    ("postgresql/mysql-on-port-5432.pcap", 5432, "mysql"),
    ("postgresql/psql-aws-ssl-require-15432.pcap", 15432, "postgresql"),
    ("ldap/simpleauth-diff-port.pcap", None, "ldap"),
    ("socks-auth-10080.pcap", 10080, "socks"),
    ("socks.pcap", 8124, "socks"),
    ("ssh/ssh.pcap", 41644, "ssh"),
    ("ssh/ssh.pcap", 2200, "ssh"),
    ("irc-basic.pcap", 6667, "irc"),
    ("rfb/vnc-mac-to-linux.pcap", 5901, "vnc"),
])
def test_services_off_their_ports_are_named_by_content(capture, port, service):
    flows = our_flows(ZEEK / capture)
    named = {f.service for f in flows if port in (None, f.dst_port)}
    assert named == {service}


def test_ssh_and_tls_behind_one_port_are_told_apart():
    # sslh multiplexes SSH and HTTPS on 443; the SSH session guesses four passwords (52-byte failures)
    flows = sorted(our_flows(ZEEK / "ssl-and-ssh-using-sslh.pcap"), key=lambda f: f.ts_start)
    assert [(f.dst_port, f.service, f.auth_attempts, f.auth_failures) for f in flows] == [
        (443, "ssh", 4, 4), (443, "tls", 0, 0)]


def _named(*turns: tuple[str, bytes], port: int = 40100, proto: str = "TCP") -> str:
    """The service the extractor names for ("c" | "s", payload) turns between a client and port `port`."""
    layer = TCP if proto == "TCP" else UDP
    to_server = IP(src="10.1.0.2", dst="10.1.0.3") / layer(sport=50000, dport=port)
    to_client = IP(src="10.1.0.3", dst="10.1.0.2") / layer(sport=port, dport=50000)
    extractor = MetadataExtractor()
    pairs = with_originators([crafted((to_server if side == "c" else to_client) / Raw(data)) for side, data in turns])
    run_packets(pairs, extractor)
    learnt = extractor.take_findings().learnt
    return next(iter(learnt.values())).service if learnt else ""


S7_CONNECT = bytes.fromhex("0300001611e00000000100c0010ac1020100c2020102")  # ISO-TSAP CR with TSAP parameters


def _x224_connection_request(variable: bytes) -> bytes:
    tpdu = b"\xe0\x00\x00\x00\x00\x00" + variable  # CR, destination and source reference, class 0
    return b"\x03\x00" + (5 + len(tpdu)).to_bytes(2, "big") + bytes([len(tpdu)]) + tpdu


RDP_CONNECT = _x224_connection_request(b"Cookie: mstshash=admin\r\n" + bytes.fromhex("0100080003000000"))


@pytest.mark.parametrize(("turns", "service"), [
    ([("c", RDP_CONNECT)], "rdp"),
    ([("c", S7_CONNECT), ("s", bytes.fromhex("0300001611d00001000100c0010ac1020100c2020102"))], ""),
    ([("s", b"220 files.example.org ready\r\n"), ("c", b"USER anonymous\r\n")], "ftp"),
    ([("s", b"220 mx.example.org ready\r\n"), ("c", b"EHLO client.example.org\r\n")], "smtp"),
    ([("s", b"220 something ready\r\n"), ("c", b"HELLO there\r\n")], ""),
    ([("c", b"\x05\x02\x00\x02"), ("s", b"\x05\x02")], "socks"),
    ([("c", b"\x05\x02\x00\x02"), ("s", b"\x05\x07")], ""),  # a method the client never offered
    ([("c", bytes.fromhex("000100000006010300000002")), ("s", bytes.fromhex("00010000000701030400000001"))], "modbus"),
    ([("c", bytes.fromhex("000100000006010300000002")), ("s", bytes.fromhex("00020000000701030400000001"))], ""),
    ([("c", b"*2\r\n$4\r\nAUTH\r\n$6\r\nsecret\r\n"), ("s", b"+OK\r\n")], "redis"),
    ([("c", b"GET /index.html HTTP/1.1\r\nHost: x\r\n\r\n")], "http"),
    ([("c", b"GET /index.html\r\n")], ""),  # HTTP/0.9-like line: too weak to call
    ([("s", b"RFB 003.008\n"), ("c", b"RFB 003.008\n")], "vnc"),
    ([("c", b"\x00\x00\x00\x08\x04\xd2\x16\x2f"), ("s", b"N")], "postgresql"),
    ([("c", b"\x00\x00\x00\x09\x04\xd2\x16\x2f\x00"), ("s", b"N")], ""),  # SSLRequest with a stray byte
    ([("s", b"+OK POP3 ready\r\n")], "pop3"),
    ([("c", b"PING\r\n"), ("s", b"+OK ready\r\n")], ""),  # "+OK" only greets as the flow's first word
    ([("c", b"NICK alice\r\nUSER alice 0 * :Alice\r\n")], "irc"),
])
def test_look_alikes_need_the_whole_shape(turns, service):
    assert _named(*turns) == service


def test_random_tcp_payloads_are_never_named():
    rng = random.Random(9)
    named = [identify("TCP", payload, first)
             for payload in (rng.randbytes(rng.choice((3, 8, 16, 48, 200, 1460))) for _ in range(20000))
             for first in (True, False)]
    assert not [verdict for verdict in named if verdict is not None and not hasattr(verdict, "confirm")]


@pytest.mark.parametrize(("port", "payload", "service"), [
    (123, bytes.fromhex("e30004fa") + bytes(44), "ntp"),
    (123, b"\x00" * 48, ""),  # version 0
    (443, bytes([0xC3]) + bytes.fromhex("00000001") + b"\x08" + bytes(8) + b"\x00" + bytes(1200), "quic"),
    (443, bytes([0xC3]) + bytes.fromhex("12345678") + b"\x08" + bytes(8) + b"\x00" + bytes(1200), ""),
    (161, bytes.fromhex("302602010104067075626c6963a01902040a0b0c0d020100020100300b300906052b060102010500"), "snmp"),
    (389, bytes.fromhex("30250201016320040000000a0100020100020100010100a00b"
                        "a309040548656c6c6f0400300000"), "ldap"),  # a connectionless search, as DC locators send
    (9999, bytes.fromhex("e30004fa") + bytes(44), ""),  # not a UDP port the services are looked for on
])
def test_udp_services_need_their_port_and_their_shape(port, payload, service):
    assert port in UDP_PORTS or service == ""
    assert _named(("c", payload), port=port, proto="UDP") == service


def test_a_flow_is_let_go_once_its_extractors_are_done(tmp_path):
    """After the ClientHello nothing more of a TLS flow reaches Python: the flow table stops handing it over."""
    class Counting(MetadataExtractor):
        calls = 0

        def on_payload(self, ctx, payload):
            Counting.calls += 1
            return super().on_payload(ctx, payload)

    [(_, hello)] = [pair for pair in capture_payloads("tls-handshake.pcap") if pair[1][:1] == b"\x16"][:1]
    client, server = IP(src="10.1.0.2", dst="10.1.0.3"), IP(src="10.1.0.3", dst="10.1.0.2")
    packets = [client / TCP(sport=50000, dport=8443, flags="S", seq=0),
               server / TCP(sport=8443, dport=50000, flags="SA", seq=0, ack=1),
               client / TCP(sport=50000, dport=8443, flags="PA", seq=1, ack=1) / Raw(hello)]
    record = b"\x17\x03\x03\x00\x10" + bytes(16)
    packets += [server / TCP(sport=8443, dport=50000, flags="PA", seq=1 + i * len(record), ack=1 + len(hello))
                / Raw(record) for i in range(200)]
    writer = PcapWriter(str(tmp_path / "tls.pcap"), linktype=228)  # raw IPv4
    for i, packet in enumerate(packets):
        packet.time = i / 100
        writer.write(packet)
    writer.close()
    pipeline = Pipeline(extractor=Counting())
    pipeline.feed_file(tmp_path / "tls.pcap", batch_size=20)  # several batches, as on a live wire
    [flow] = pipeline.close().flows
    assert (flow.service, flow.pkts_resp) == ("tls", 201)
    assert Counting.calls <= 20  # within the first batch; none after it
