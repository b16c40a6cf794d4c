from __future__ import annotations

from scapy.all import DNS, DNSQR, DNSRR, IP, TCP, UDP, Ether, Raw

from sensor.protocols import MetadataExtractor
from sensor.records import DnsEvent
from tests.sensor_protocols.protocol_payloads import crafted, run_capture, run_crafted


def test_tunnel_capture_yields_every_txt_query_under_the_tunnel_domain():
    events = run_capture("dns-tunnel-txt.pcap")
    queries = [e for e in events if not e.is_response]
    responses = [e for e in events if e.is_response]
    assert len(queries) == 81
    assert all(e.qtype == 16 and e.query.endswith(".srv.tunnel.com") for e in events)
    assert len({e.query for e in queries}) == 81
    assert max(len(e.query) for e in queries) == 193
    assert responses and all(e.answers for e in responses)
    # responses pair up with their queries by transaction id
    assert {e.txid for e in responses} <= {e.txid for e in queries}


def test_answers_of_each_type_are_rendered_through_compression_pointers():
    answers = [
        DNSRR(rrname="www.example.org", type="CNAME", rdata="edge.example.net"),
        DNSRR(rrname="edge.example.net", type="A", rdata="192.0.2.10"),
        DNSRR(rrname="edge.example.net", type="AAAA", rdata="2001:db8::10"),
        DNSRR(rrname="www.example.org", type="TXT", rdata=[b"v=spf1", b" -all"]),
    ]
    response = DNS(id=77, qr=1, rcode=3, qd=DNSQR(qname="www.example.org", qtype="A"), an=answers).compress()
    assert b"\xc0" in bytes(response)  # the names really are compressed
    [event] = run_crafted(
        Ether() / IP(src="10.0.0.53", dst="10.0.0.2") / UDP(sport=53, dport=3333) / response
    )
    assert isinstance(event, DnsEvent)
    assert (event.query, event.qtype, event.is_response, event.rcode, event.txid) == (
        "www.example.org",
        1,
        True,
        3,
        77,
    )
    assert event.answers == ["edge.example.net", "192.0.2.10", "2001:db8::10", "v=spf1 -all"]


def test_pointer_loops_and_truncation_yield_nothing():
    extractor = MetadataExtractor()
    ctx, _ = crafted(IP() / UDP(sport=1234, dport=53) / Raw(b"x"))
    header = bytes.fromhex("1234 0100 0001 0000 0000 0000")
    self_pointer = header + b"\xc0\x0c" + b"\x00\x01\x00\x01"
    two_pointer_loop = header + b"\xc0\x0e\xc0\x0c" + b"\x00\x01\x00\x01"
    label_past_end = header + b"\x3fabc"
    for payload in (self_pointer, two_pointer_loop, label_past_end, header, header[:5], b""):
        assert extractor.on_payload(ctx, payload) == []
    assert extractor.errors == 0


def test_dns_over_tcp_is_joined_across_segments_and_split_into_messages():
    query = bytes(DNS(id=1, qd=DNSQR(qname="a.example.com", qtype="TXT")))
    second = bytes(DNS(id=2, qd=DNSQR(qname="b.example.com", qtype="NULL")))
    stream = len(query).to_bytes(2, "big") + query + len(second).to_bytes(2, "big") + second
    base = IP(src="10.0.0.2", dst="10.0.0.53") / TCP(sport=40000, dport=53, flags="PA")
    second_starts = 2 + len(query)
    # the first message split, then the rest of it sharing a segment with the start of the second
    segments = (stream[:9], stream[9 : second_starts + 7], stream[second_starts + 7 :])
    events = run_crafted(*(base / Raw(segment) for segment in segments))
    assert [(e.query, e.qtype, e.txid) for e in events] == [
        ("a.example.com", 16, 1),
        ("b.example.com", 10, 2),
    ]


def test_mdns_queries_are_read():
    packet = (
        IP(src="10.0.0.7", dst="224.0.0.251")
        / UDP(sport=5353, dport=5353)
        / DNS(qd=DNSQR(qname="_printer._tcp.local", qtype="PTR"))
    )
    [event] = run_crafted(packet)
    assert (event.query, event.qtype) == ("_printer._tcp.local", 12)
