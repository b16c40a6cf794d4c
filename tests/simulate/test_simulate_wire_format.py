"""The capture is real wire format: checksums add up, scapy dissects every message without error, and the
protocol layers say what the scenario claims (DNS questions, TLS SNI, Modbus codes, Kerberos etypes...)."""

from __future__ import annotations

import logging
from array import array

from scapy.all import ARP, DNS, ICMP, IP, TCP, Ether, UDPerror, conf, load_layer
from scapy.contrib.modbus import ModbusADURequest
from scapy.layers.dhcp import BOOTP, DHCP
from scapy.layers.kerberos import Kerberos

load_layer("tls")
load_layer("http")
from scapy.layers.http import HTTPRequest  # noqa: E402  (needs load_layer first)
from scapy.layers.tls.handshake import TLSClientHello  # noqa: E402
from scapy.layers.tls.record import TLS  # noqa: E402

from tests.simulate.decoded_frames import Frame, message_starts  # noqa: E402

logging.getLogger("scapy").setLevel(logging.CRITICAL)


def _ones_complement_sum(data: bytes) -> int:
    """RFC 1071 by the book (word sum and carry folding), unlike the generator's modulo shortcut."""
    if len(data) % 2:
        data += b"\x00"
    total = sum(array("H", data))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return total


def _checksums_ok(frame: Frame) -> bool:
    if frame.ethertype != 0x0800:
        return True
    raw = frame.raw
    ihl = (raw[14] & 0x0F) * 4
    total = int.from_bytes(raw[16:18], "big")
    if _ones_complement_sum(raw[14 : 14 + ihl]) != 0xFFFF:
        return False
    segment = raw[14 + ihl : 14 + total]
    if frame.proto == 1:
        return _ones_complement_sum(segment) == 0xFFFF
    pseudo = raw[26:34] + bytes((0, frame.proto)) + len(segment).to_bytes(2, "big")
    return _ones_complement_sum(pseudo + segment) == 0xFFFF


def _strict(frame: Frame) -> Ether:
    previous = conf.debug_dissector
    conf.debug_dissector = True  # a dissector error raises instead of turning the rest into Raw
    try:
        return Ether(frame.raw)
    finally:
        conf.debug_dissector = previous


def test_every_frame_has_valid_lengths_and_checksums(generated):
    for name in ("mixed", "benign-office"):
        for frame in generated[name].frames:
            assert len(frame.raw) >= 60 and len(frame.raw) <= 1514
            assert _checksums_ok(frame), (name, frame.src, frame.dst, frame.sport, frame.dport)


def test_scapy_dissects_every_message_of_the_mixed_capture(generated):
    frames = message_starts(generated["mixed"].frames)
    controls = [f for f in frames if f.proto == 6 and not f.payload]
    others = [f for f in frames if not (f.proto == 6 and not f.payload)]
    assert len(others) > 5000
    for frame in others + controls[::10]:  # bare ACK/SYN/FIN/RST are all alike: a tenth of them suffices
        packet = _strict(frame)
        assert (IP in packet) or (ARP in packet)
        if frame.proto == 6:
            assert packet[TCP].dport == frame.dport


def _packets(generated, name: str, predicate) -> list[Ether]:
    return [_strict(frame) for frame in message_starts(generated[name].frames) if predicate(frame)]


def test_dns_questions_and_answers(generated):
    packets = _packets(generated, "benign-office", lambda f: f.proto == 17 and 53 in (f.sport, f.dport))
    names = {p[DNS].qd[0].qname.decode() for p in packets}
    assert "www.google.com." in names or "outlook.office365.com." in names
    answered = [p for p in packets if p[DNS].qr == 1 and p[DNS].ancount]
    assert answered and all(p[DNS].an[0].rrname == p[DNS].qd[0].qname for p in answered)


def test_tls_client_hello_carries_the_sni(generated):
    hellos = _packets(
        generated, "shadow-ai", lambda f: f.dport == 443 and f.payload[:1] == b"\x16" and f.payload[5:6] == b"\x01"
    )
    snis = set()
    for packet in hellos:
        hello = packet[TLS].msg[0]
        assert isinstance(hello, TLSClientHello)
        assert len(hello.ciphers) >= 9
        server_names = [ext for ext in hello.ext if ext.type == 0]
        snis.add(server_names[0].servernames[0].servername.decode())
    labelled = {label.variant.removeprefix("sni-") for label in generated["shadow-ai"].labels}
    assert labelled <= snis


def test_modbus_write_codes_come_only_from_the_attacker(generated):
    requests = _packets(generated, "ot-unauthorized-write", lambda f: f.dport == 502 and f.payload)
    codes_by_source = {}
    for packet in requests:
        codes_by_source.setdefault(packet[IP].src, set()).add(packet[ModbusADURequest].payload.funcCode)
    attacker = {label.source_ip for label in generated["ot-unauthorized-write"].labels if "modbus" in label.variant}
    assert len(attacker) == 1
    assert codes_by_source.pop(attacker.pop()) >= {5, 6, 15, 16}
    assert codes_by_source == {"10.20.30.5": {1, 3}}  # the engineering station only reads


def _ticket_etypes(generated, name: str) -> list[tuple[str, int]]:
    replies = _packets(generated, name, lambda f: f.sport == 88 and f.payload)
    etypes = []
    for packet in replies:
        message = packet[Kerberos].root
        if int(message.msgType.val) == 13:
            etypes.append((packet[IP].dst, int(message.ticket.encPart.etype.val)))
    return etypes


def test_kerberoasting_tickets_are_rc4_in_an_aes_domain(generated):
    roasters = {label.source_ip for label in generated["kerberoasting"].labels}
    etypes = _ticket_etypes(generated, "kerberoasting")
    rc4 = {client for client, etype in etypes if etype == 23}
    assert rc4 == roasters
    assert {etype for _, etype in etypes} == {18, 23}
    assert {etype for _, etype in _ticket_etypes(generated, "benign-office")} == {18}


def test_dhcp_rogue_offers_name_a_second_server(generated):
    offers = _packets(generated, "rogue-dhcp", lambda f: f.sport == 67)
    servers = {dict(o for o in p[DHCP].options if isinstance(o, tuple))["server_id"] for p in offers}
    rogue = next(label for label in generated["rogue-dhcp"].labels if label.variant == "rogue-server-offers")
    assert servers == {"10.20.1.10", rogue.source_ip}
    assert all(p[BOOTP].chaddr for p in offers)


def test_http_basic_authorization_is_visible(generated):
    requests = _packets(generated, "cleartext-credentials", lambda f: f.dport == 80 and f.payload[:4] == b"GET ")
    assert any(p[HTTPRequest].Authorization and p[HTTPRequest].Authorization.startswith(b"Basic ") for p in requests)


def _dnp3_crc(block: bytes) -> int:
    """CRC-16/DNP bit by bit (the generator uses a table)."""
    crc = 0
    for byte in block:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA6BC if crc & 1 else crc >> 1
    return ~crc & 0xFFFF


def test_dnp3_frames_have_valid_crcs_and_the_attack_functions(generated):
    functions = set()
    for frame in message_starts(generated["ot-unauthorized-write"].frames):
        if frame.dport != 20000 or not frame.payload:
            continue
        data = frame.payload
        assert data[:2] == b"\x05\x64"
        assert int.from_bytes(data[8:10], "little") == _dnp3_crc(data[:8])
        user, body = bytearray(), data[10:]
        while body:
            block, body = body[: min(16, len(body) - 2)], body[min(16, len(body) - 2) :]
            assert int.from_bytes(body[:2], "little") == _dnp3_crc(block)
            body = body[2:]
            user += block
        functions.add((frame.src, user[2]))
    attacker = next(label.source_ip for label in generated["ot-unauthorized-write"].labels if "dnp3" in label.variant)
    assert {code for source, code in functions if source == attacker} == {2, 3, 4, 5}
    assert {code for source, code in functions if source != attacker} == {1}


def test_icmp_port_unreachable_quotes_the_udp_probe(generated):
    unreachables = _packets(generated, "port-scan", lambda f: f.proto == 1 and f.payload[0] == 3)
    assert unreachables
    for packet in unreachables:
        assert packet[ICMP].type == 3 and packet[ICMP].code == 3
        assert UDPerror in packet[ICMP].payload


def test_night_exfiltration_is_labelled_after_hours_in_a_quieter_office(generated):
    night, day = generated["data-exfiltration-night"], generated["data-exfiltration"]
    assert all(label.variant.endswith("after-hours") for label in night.labels)
    assert all(label.variant.endswith("business-hours") for label in day.labels)

    def people(capture) -> int:
        """Frames of the staff's machines (IT's scheduled jobs run day and night alike)."""
        attackers = {label.source_ip for label in capture.labels}
        return sum(1 for frame in capture.frames if frame.src not in attackers and frame.dst not in attackers
                   and "10.20.10." in (frame.src[:9], frame.dst[:9]))

    assert people(night) * 3 < people(day)
