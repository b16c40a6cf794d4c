from __future__ import annotations

from scapy.all import IP, TCP, UDP, Raw

from sensor.records import BacnetEvent, Dnp3Event, ModbusEvent
from tests.sensor_protocols.protocol_payloads import run_capture, run_crafted

MODBUS_WRITES = {5, 6, 15, 16, 22, 23}


def test_modbus_capture_write_coil_and_register_requests_and_their_echoes():
    events = run_capture("modbus.pcap")
    assert all(isinstance(e, ModbusEvent) for e in events)
    writes = [e for e in events if e.function_code in MODBUS_WRITES]
    # the master 10.0.0.9 asks the slave 10.0.0.3 (port 502) to write; 10.0.0.3 echoes each write back
    requests = [(e.src_ip, e.dst_ip, e.function_code) for e in writes if not e.is_response]
    echoes = [(e.src_ip, e.dst_ip, e.function_code) for e in writes if e.is_response]
    assert sorted(requests) == [("10.0.0.9", "10.0.0.3", 5)] * 2 + [("10.0.0.9", "10.0.0.3", 6)]
    assert sorted(echoes) == [("10.0.0.3", "10.0.0.9", 5)] * 2 + [("10.0.0.3", "10.0.0.9", 6)]
    assert all(e.unit_id == 10 and e.transaction_id == 1 for e in writes)
    exceptions = [e for e in events if e.exception]
    assert exceptions and all(e.is_response and e.function_code < 0x80 for e in exceptions)


def test_modbus_segment_with_two_adus():
    adus = bytes.fromhex("0007 0000 0006 01 10 0001 0002") + bytes.fromhex("0008 0000 0006 01 03 0000 000a")
    packet = IP(src="10.1.1.5", dst="10.1.1.9") / TCP(sport=4000, dport=502, flags="PA") / Raw(adus)
    assert [(e.transaction_id, e.function_code) for e in run_crafted(packet)] == [(7, 16), (8, 3)]


def test_dnp3_capture_write_request():
    events = run_capture("dnp3-write.pcap")
    assert all(isinstance(e, Dnp3Event) for e in events)
    request, response = events
    assert (request.function_code, request.is_response) == (2, False)
    assert (request.src_ip, request.dst_ip, request.source_addr, request.dest_addr) == (
        "130.126.142.250",
        "130.126.140.229",
        3,
        2,
    )
    assert (response.function_code, response.is_response, response.source_addr) == (129, True, 2)


def dnp3_crc(data: bytes) -> bytes:
    """CRC-16/DNP, so the crafted frames are what a real outstation would accept."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA6BC if crc & 1 else crc >> 1
    return (~crc & 0xFFFF).to_bytes(2, "little")


def dnp3_frame(dest: int, source: int, user: bytes) -> bytes:
    header = (
        b"\x05\x64" + bytes((5 + len(user), 0xC4)) + dest.to_bytes(2, "little") + source.to_bytes(2, "little")
    )
    blocks = [user[i : i + 16] for i in range(0, len(user), 16)]
    return header + dnp3_crc(header) + b"".join(block + dnp3_crc(block) for block in blocks)


def test_dnp3_crc_helper_matches_the_capture():
    assert dnp3_crc(bytes.fromhex("056412c402000300")) == bytes.fromhex("9c68")


def test_dnp3_two_frames_in_one_segment_with_multi_block_user_data():
    select = dnp3_frame(10, 1, bytes((0xC1, 0xC1, 3)) + bytes(range(20)))  # 23 bytes: two CRC blocks
    operate = dnp3_frame(10, 1, bytes((0xC2, 0xC2, 4)) + bytes(8))
    packet = (
        IP(src="10.2.0.1", dst="10.2.0.10") / TCP(sport=5000, dport=20000, flags="PA") / Raw(select + operate)
    )
    assert [(e.function_code, e.source_addr, e.dest_addr) for e in run_crafted(packet)] == [
        (3, 1, 10),
        (4, 1, 10),
    ]


def bacnet(ip_src: str, ip_dst: str, bvlc_function: int, npdu_apdu: bytes) -> object:
    bvlc = bytes((0x81, bvlc_function)) + (4 + len(npdu_apdu)).to_bytes(2, "big")
    return IP(src=ip_src, dst=ip_dst) / UDP(sport=47808, dport=47808) / Raw(bvlc + npdu_apdu)


def test_bacnet_write_property_its_ack_and_an_unconfirmed_who_is():
    # WriteProperty analog-value 1 present-value := 100.0 at priority 16, routed to network 5
    write = bytes.fromhex("0124 0005 00 ff0005010f 0c00800001 1955 3e4442c800003f 4910")
    ack = bytes.fromhex("010020010f")
    who_is = bytes.fromhex("0120ffff00ff1008")
    events = run_crafted(
        bacnet("10.3.0.7", "10.3.0.20", 0x0A, write),
        bacnet("10.3.0.20", "10.3.0.7", 0x0A, ack),
        bacnet("10.3.0.7", "10.3.0.255", 0x0B, who_is),
    )
    assert all(isinstance(e, BacnetEvent) for e in events)
    assert [(e.service, e.confirmed, e.is_response) for e in events] == [
        (15, True, False),
        (15, True, True),
        (8, False, False),
    ]


def test_bacnet_forwarded_npdu_and_network_layer_messages():
    forwarded = bytes.fromhex("0a030007bac0") + bytes.fromhex("01040205020f")  # segmented-accepted request
    network_message = bytes.fromhex("018000")  # Who-Is-Router-To-Network: no APDU
    events = run_crafted(
        bacnet("10.3.0.1", "10.3.0.20", 0x04, forwarded),
        bacnet("10.3.0.1", "10.3.0.255", 0x0B, network_message),
    )
    assert [(e.service, e.confirmed) for e in events] == [(15, True)]
