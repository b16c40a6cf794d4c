from __future__ import annotations

import hashlib

import pytest
from scapy.all import IP, TCP, Raw
from scapy.layers.tls.all import TLS
from scapy.layers.tls.extensions import (
    ProtocolName,
    ServerName,
    TLS_Ext_ALPN,
    TLS_Ext_ServerName,
    TLS_Ext_SignatureAlgorithms,
    TLS_Ext_SupportedGroups,
    TLS_Ext_SupportedPointFormat,
    TLS_Ext_SupportedVersion_CH,
    TLS_Ext_Unknown,
)
from scapy.layers.tls.handshake import TLSClientHello

from sensor.protocols.tls import ClientHello, ja4
from sensor.records import TlsCertificateEvent, TlsClientHelloEvent
from tests.sensor_protocols.protocol_payloads import capture_payloads, run_capture, run_crafted

# suricata-verify tests/ja4-tls/test.yaml expects exactly this JA4 for the same capture
SURICATA_JA4 = "t12i1810s1_27d4652c4487_06a4338d0495"


def scapy_ja3(payload: bytes) -> str:
    """JA3 computed from scapy's own dissection of the ClientHello (no GREASE in this capture)."""
    hello = TLS(payload).msg[0]
    assert isinstance(hello, TLSClientHello)
    groups = next((e.groups for e in hello.ext if e.type == 10), [])
    point_formats = next((e.ecpl for e in hello.ext if e.type == 11), [])
    return ",".join(
        [
            str(hello.version),
            "-".join(map(str, hello.ciphers)),
            "-".join(str(e.type) for e in hello.ext),
            "-".join(map(str, groups)),
            "-".join(map(str, point_formats)),
        ]
    )


def test_capture_client_hello_matches_scapy_ja3_and_suricata_ja4():
    [event, _] = run_capture("tls-handshake.pcap")
    client_hello_payload = capture_payloads("tls-handshake.pcap")[0][1]
    assert isinstance(event, TlsClientHelloEvent)
    assert event.src_ip == "192.168.56.1" and event.dst_port == 443
    assert event.ja3 == scapy_ja3(client_hello_payload)
    assert event.ja3_hash == hashlib.md5(event.ja3.encode()).hexdigest()
    assert event.ja4 == SURICATA_JA4
    assert event.sni == ""  # the "i" in the JA4: this client connected to a bare IP
    assert event.alpn == ["spdy/3.1", "http/1.1"]
    assert event.version == 0x0303


def spec_values(text: str) -> list[int]:
    return [int(value, 16) for value in text.split(",")]


def test_ja4_of_the_foxio_specification_example():
    # the example of FoxIO-LLC/ja4 technical_details/JA4.md, lists copied as the spec prints them
    hello = ClientHello(
        version=0x0303,
        ciphers=spec_values("1301,1302,1303,c02b,c02f,c02c,c030,cca9,cca8,c013,c014,009c,009d,002f,0035"),
        extensions=spec_values(
            "001b,0000,0033,0010,4469,0017,002d,000d,0005,0023,0012,002b,ff01,000b,000a,0015"
        ),
        groups=[],
        point_formats=[],
        signature_algorithms=spec_values("0403,0804,0401,0503,0805,0501,0806,0601"),
        supported_versions=[0x0304, 0x0303],
        sni="example.com",
        alpn=[b"h2", b"http/1.1"],
    )
    assert ja4(hello) == "t13d1516h2_8daaf6152771_e5627efa2ab1"
    without_signature_algorithms = hello._replace(signature_algorithms=[])
    assert ja4(without_signature_algorithms).endswith("_6d807ffa2a79")


def grease_client_hello() -> bytes:
    hello = TLSClientHello(
        version=0x0303,
        ciphers=[0x0A0A, 0x1301, 0x1302, 0xC02B],
        ext=[
            TLS_Ext_Unknown(type=0x1A1A, val=b""),
            TLS_Ext_ServerName(servernames=[ServerName(servername=b"chat.example.ai")]),
            TLS_Ext_SupportedGroups(groups=[0x2A2A, 29, 23]),
            TLS_Ext_SupportedPointFormat(ecpl=[0]),
            TLS_Ext_SignatureAlgorithms(sig_algs=[0x0403, 0x0804]),
            TLS_Ext_ALPN(protocols=[ProtocolName(protocol=b"h2")]),
            TLS_Ext_SupportedVersion_CH(versions=[0x3A3A, 0x0304, 0x0303]),
        ],
    )
    return bytes(TLS(version=0x0301, msg=[hello]))


def test_grease_is_removed_and_sni_alpn_and_version_are_read():
    packet = IP(src="10.0.0.2", dst="203.0.113.9") / TCP(sport=50000, dport=443, flags="PA")
    [event] = run_crafted(packet / Raw(grease_client_hello()))
    assert event.sni == "chat.example.ai"
    assert event.version == 0x0304
    assert event.alpn == ["h2"]
    assert event.ja3 == "771,4865-4866-49195,0-10-11-13-16-43,29-23,0"
    assert event.ja4.startswith("t13d0306h2_")
    assert event.ja4.split("_")[1] == hashlib.sha256(b"1301,1302,c02b").hexdigest()[:12]
    assert event.ja4.split("_")[2] == hashlib.sha256(b"000a,000b,000d,002b_0403,0804").hexdigest()[:12]


def test_client_hello_split_over_segments_on_an_unusual_port_is_found_by_content():
    record = grease_client_hello()
    packet = IP(src="10.0.0.2", dst="203.0.113.9") / TCP(sport=50000, dport=9443, flags="PA")
    events = run_crafted(packet / Raw(record[:40]), packet / Raw(record[40:]))
    assert [e.sni for e in events] == ["chat.example.ai"]


def test_quic_initials_are_left_alone():
    assert run_capture("quic.pcap") == []


# SHA-1 of each certificate as Wireshark dissects it (tshark -Y tls.handshake.type==11 -e tls.handshake.certificate)
CERTIFICATES = {
    "tls-handshake.pcap": [("192.168.56.101", "3a0b3b23152c445c27ac6a0c41d6fa74afb4095b", [])],
    "zeek-traces/tls/ecdsa-cert.pcap": [
        ("23.92.19.75", "e69968e62a6e0cccb811ca0a5c4d35b8731b5dd0", ["16ee54e48c76eaa1052e09010d8faefee95e5ebb"]),
    ],
    # a chain of three over many segments, between two connections to a server sending its certificate alone
    "zeek-traces/tls/missing-intermediate.pcap": [
        ("128.32.169.140", "3361b1bd76996c4503f56f034d8c7c1c2fecef21", []),
        ("72.167.102.91", "0bdfee94b5655ce22960c8c1458c50abe21b0c10",
         ["7edc376dcfd45e6ddf082c160df6ac21835b95d4", "b51c067cee2b0c3df855ab2d92f4fe39d4e70f0e"]),
        ("128.32.169.140", "3361b1bd76996c4503f56f034d8c7c1c2fecef21", []),
    ],
}


@pytest.mark.parametrize("capture", sorted(CERTIFICATES))
def test_server_certificates_sha1_as_wireshark_has_them(capture):
    events = run_capture(capture)
    certificates = [event for event in events if isinstance(event, TlsCertificateEvent)]
    assert [(event.src_ip, event.cert_sha1, event.chain_sha1) for event in certificates] == CERTIFICATES[capture]
    hellos = {event.flow_uid: event for event in events if isinstance(event, TlsClientHelloEvent)}
    for certificate in certificates:  # sent by the server to the client of the flow's ClientHello
        hello = hellos[certificate.flow_uid]
        assert (certificate.dst_ip, certificate.dst_port) == (hello.src_ip, hello.src_port)


@pytest.mark.parametrize("capture", ["zeek-traces/tls/hrr.pcap", "zeek-traces/tls/chrome-1250-tls-x25519-kyber.pcap"])
def test_tls13_certificates_are_encrypted_and_not_read(capture):
    events = run_capture(capture)
    assert any(isinstance(event, TlsClientHelloEvent) for event in events)
    assert not any(isinstance(event, TlsCertificateEvent) for event in events)
