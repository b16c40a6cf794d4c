from __future__ import annotations

from scapy.all import BOOTP, DHCP, IP, UDP, Ether, rdpcap
from scapy.asn1.asn1 import ASN1_GENERAL_STRING, ASN1_GENERALIZED_TIME, ASN1_INTEGER
from scapy.layers.kerberos import KRB_AS_REQ, KRB_ERROR, KRB_KDC_REQ_BODY, Kerberos, PrincipalName

from sensor.records import DhcpEvent, KerberosEvent
from tests.sensor_protocols.protocol_payloads import run_capture, run_crafted
from tests.shared_data import PCAPS

AES256, AES128, RC4 = 18, 17, 23


def principal(name_type: int, *parts: bytes) -> PrincipalName:
    return PrincipalName(nameType=name_type, nameString=[ASN1_GENERAL_STRING(p) for p in parts])


def test_kerberoast_capture_shows_an_rc4_ticket_for_a_client_that_offered_aes():
    events = run_capture("kerberoast.pcap")
    request, reply = events  # the reply spans two TCP segments and is joined
    assert all(isinstance(e, KerberosEvent) for e in events)
    assert request.msg_type == 12 and (request.src_ip, request.dst_ip) == ("10.0.0.2", "10.0.0.6")
    assert {AES256, AES128} <= set(request.requested_etypes)
    assert request.service.startswith("HTTP/dc-mantvydas") and request.realm == "OFFENSE.LOCAL"
    assert reply.msg_type == 13 and reply.src_ip == "10.0.0.6"
    assert reply.ticket_etype == RC4
    assert reply.service == request.service


def test_as_req_and_krb_error_over_udp():
    body = KRB_KDC_REQ_BODY(
        kdcOptions="forwardable+renewable",
        cname=principal(1, b"judy"),
        realm=ASN1_GENERAL_STRING(b"CORP.EXAMPLE"),
        sname=principal(2, b"krbtgt", b"CORP.EXAMPLE"),
        till=ASN1_GENERALIZED_TIME("20370913024805Z"),
        nonce=12345,
        etype=[ASN1_INTEGER(AES256), ASN1_INTEGER(AES128), ASN1_INTEGER(RC4)],
    )
    error = KRB_ERROR(
        errorCode=25,  # KDC_ERR_PREAUTH_REQUIRED
        stime=ASN1_GENERALIZED_TIME("20240101000000Z"),
        susec=0,
        realm=ASN1_GENERAL_STRING(b"CORP.EXAMPLE"),
        sname=principal(2, b"krbtgt", b"CORP.EXAMPLE"),
    )
    client, kdc = IP(src="10.0.0.2", dst="10.0.0.6"), IP(src="10.0.0.6", dst="10.0.0.2")
    request, reply = run_crafted(
        client / UDP(sport=50123, dport=88) / Kerberos(root=KRB_AS_REQ(reqBody=body)),
        kdc / UDP(sport=88, dport=50123) / Kerberos(root=error),
    )
    assert (request.msg_type, request.requested_etypes, request.service, request.realm) == (
        10,
        [AES256, AES128, RC4],
        "krbtgt/CORP.EXAMPLE",
        "CORP.EXAMPLE",
    )
    assert (reply.msg_type, reply.error_code, reply.service, reply.realm) == (
        30,
        25,
        "krbtgt/CORP.EXAMPLE",
        "CORP.EXAMPLE",
    )


def test_dhcp_starvation_flood_is_10000_discovers_from_one_sender():
    events = run_capture("dhcp-request-flood.pcap")
    assert len(events) == 10000
    assert all(isinstance(e, DhcpEvent) and e.msg_type == 1 for e in events)
    assert {e.src_mac for e in events} == {"de:ad:be:ef:aa:bb"}
    first = rdpcap(str(PCAPS / "dhcp-request-flood.pcap"), count=1)[0]
    # chaddr byte for byte (the flood tool wrote de:ad:be:ef:aa:0b there, not its Ethernet source)
    assert events[0].client_mac == bytes(first[BOOTP])[28:34].hex(":") == "de:ad:be:ef:aa:0b"
    assert len({e.xid for e in events}) == 10000


def test_dhcp_offer_and_request_fields():
    mac = "02:11:22:33:44:55"
    chaddr = bytes.fromhex(mac.replace(":", ""))
    offer = (
        Ether(src="02:aa:00:00:00:01")
        / IP(src="192.168.1.1", dst="192.168.1.50")
        / UDP(sport=67, dport=68)
        / BOOTP(op=2, xid=0xCAFE, yiaddr="192.168.1.50", chaddr=chaddr)
        / DHCP(options=[("message-type", "offer"), ("server_id", "192.168.1.1"), "end"])
    )
    request = (
        Ether(src=mac)
        / IP(src="0.0.0.0", dst="255.255.255.255")
        / UDP(sport=68, dport=67)
        / BOOTP(op=1, xid=0xCAFE, chaddr=chaddr)
        / DHCP(
            options=[
                ("message-type", "request"),
                ("requested_addr", "192.168.1.50"),
                ("server_id", "192.168.1.1"),
                ("hostname", b"laptop-7"),
                "end",
            ]
        )
    )
    offered, requested = run_crafted(offer, request)
    assert (offered.msg_type, offered.server_id, offered.offered_ip, offered.client_mac, offered.xid) == (
        2,
        "192.168.1.1",
        "192.168.1.50",
        mac,
        0xCAFE,
    )
    assert (requested.msg_type, requested.requested_ip, requested.hostname, requested.client_mac) == (
        3,
        "192.168.1.50",
        "laptop-7",
        mac,
    )
