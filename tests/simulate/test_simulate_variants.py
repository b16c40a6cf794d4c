"""The attack variants and look-alikes are what their published descriptions say, on the wire: SSH sized so
that Zeek's heuristic counts the guesses (and the admins' successes), each guessed service refusing as the
real server does, QUIC Initials an observer can open, ARP poisoning visible in the data plane, AES-only
kerberoasting, beacons too fast or inside one connection. Checked with decoders written here, not the
generator's own."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import statistics
import struct
from collections import defaultdict

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand
from scapy.all import IP, Ether
from scapy.layers.kerberos import Kerberos

from appliance.simulate import protocols
from appliance.simulate.office import build_office
from appliance.simulate.pcap import read_pcap
from appliance.simulate.scenarios import write
from tests.simulate.conftest import TEST_SEED
from tests.simulate.decoded_frames import Frame, decode

CLIENT_NEWKEYS = bytes.fromhex("0000000c0a15") + bytes(10)


# -- SSH: Zeek's inference from sizes ----------------------------------------------------------------------
def _connections(frames: list[Frame]) -> dict[tuple, list[Frame]]:
    """TCP frames by connection, keyed (client, client port, server, server port); the SYN names the client."""
    clients: dict[frozenset, tuple] = {}
    out: dict[tuple, list[Frame]] = defaultdict(list)
    for frame in frames:
        if frame.proto != 6:
            continue
        pair = frozenset(((frame.src, frame.sport), (frame.dst, frame.dport)))
        if frame.tcp_flags & 0x12 == 0x02:
            clients[pair] = (frame.src, frame.sport, frame.dst, frame.dport)
        if pair in clients:
            out[clients[pair]].append(frame)
    return out


def zeek_auth_attempts(connection: list[Frame], client: str) -> list[bool]:
    """Zeek's SSH analyser (SSH.cc ProcessEncrypted): the first server packet after the client's encrypted data
    is SERVICE_ACCEPT; one 16 bytes smaller is a success; the next is the failure size; each packet of that size
    again is a failed attempt. The first failure answers the "none" probe and only teaches the size."""
    encrypted = saw_client = False
    accept = failure = 0
    attempts: list[bool] = []
    for frame in connection:
        if not frame.payload:
            continue
        if frame.src == client:
            if encrypted:
                saw_client = True
            encrypted = encrypted or frame.payload == CLIENT_NEWKEYS
            continue
        size = len(frame.payload)
        if not saw_client:
            continue
        if not accept:
            accept = size
        elif not failure and size + 16 == accept:
            return [*attempts, True]
        elif not failure:
            failure = size
        elif size == failure:
            attempts.append(False)
        elif size == accept - 16:
            return [*attempts, True]
    return attempts


def _finished(connection: list[Frame]) -> bool:
    return any(frame.tcp_flags & 0x05 for frame in connection)  # FIN or RST: the tool or sshd ended it


def test_ssh_guessing_shows_three_to_six_failed_guesses_per_connection(generated):
    capture = generated["brute-force-ssh-variants"]
    connections = _connections(capture.frames)
    for label in capture.labels:
        if "/" in label.source_ip:
            continue
        ours = [frames for (client, _, server, port), frames in connections.items()
                if client == label.source_ip and server == label.dest_ip and port == label.port and _finished(frames)]
        assert ours, label.variant
        for frames in ours:
            attempts = zeek_auth_attempts(frames, label.source_ip)
            assert not any(attempts), label.variant
            expected = (1, 1) if label.variant.startswith("slow") else (3, 6)
            assert expected[0] <= len(attempts) <= expected[1], (label.variant, attempts)
        servers = [frames[3].payload for frames in ours if len(frames) > 3]
        assert any(banner.startswith(b"SSH-2.0-OpenSSH") for banner in servers)
    assert {label.port for label in capture.labels} >= {2222, 22222, 22}


def test_classic_ssh_brute_force_reads_as_failed_guesses(generated):
    """The brute-force scenario's SSH guessing: three failures per connection, never a success."""
    capture = generated["brute-force"]
    label = next(label for label in capture.labels if label.variant == "ssh")
    finished = [frames for (client, _, server, _), frames in _connections(capture.frames).items()
                if client == label.source_ip and server == label.dest_ip and _finished(frames)]
    assert finished
    assert all(zeek_auth_attempts(frames, label.source_ip) == [False] * 3 for frames in finished)


def test_distributed_guessing_comes_from_many_internet_sources(generated):
    capture = generated["brute-force-ssh-variants"]
    label = next(label for label in capture.labels if "/" in label.source_ip)
    sources = {frame.src for frame in capture.frames if frame.dst == label.dest_ip and frame.dport == 22
               and frame.src.startswith("192.0.2.")}
    assert len(sources) >= 5


def test_it_logs_in_with_success_where_attackers_fail(generated):
    """Ansible's key logins and the inventory's password login succeed, by the same size inference."""
    benign = generated["benign-office"]
    office = build_office(TEST_SEED)
    outcomes = defaultdict(list)
    for (client, _, _server, port), frames in _connections(benign.frames).items():
        if port in (22, 2222, 22222) and _finished(frames):
            outcomes[client].append(zeek_auth_attempts(frames, client))
    assert outcomes[office.automation.ip]
    assert all(attempts and attempts[-1] for attempts in outcomes[office.automation.ip])
    assert all(attempts[-1] for attempts in (a for runs in outcomes.values() for a in runs) if attempts)


# -- other guessed services ------------------------------------------------------------------------------
REFUSALS = {
    2121: lambda p: p.startswith(b"530 Login incorrect."),
    2323: lambda p: b"Login incorrect" in p,
    10110: lambda p: p.startswith(b"-ERR [AUTH] Authentication failed."),
    10143: lambda p: b"NO [AUTHENTICATIONFAILED]" in p,
    4455: lambda p: p[4:8] == b"\xfeSMB" and struct.unpack_from("<I", p, 12)[0] == 0xC000006D,
    3307: lambda p: p[4] == 0xFF and struct.unpack_from("<H", p, 5)[0] == 1045 and b"Access denied" in p,
    5433: lambda p: p[:1] == b"E" and b"C28P01\x00" in p,
    5901: lambda p: p[:4] == b"\x00\x00\x00\x01" and p.endswith(b"Authentication failed"),
}


def test_each_guessed_service_refuses_as_the_real_server_does(generated):
    capture = generated["brute-force-other-services"]
    for label in capture.labels:
        if label.rule_name != "BRUTE_FORCE":
            continue
        replies = [f.payload for f in capture.frames
                   if f.src == label.dest_ip and f.dst == label.source_ip and f.sport == label.port and f.payload]
        assert replies, label.variant
        if label.port in REFUSALS:
            assert any(REFUSALS[label.port](reply) for reply in replies), label.variant
        else:  # RDP on 3390: TLS inside X.224, then the server resets
            assert replies[0][:2] == b"\x03\x00" and any(reply[:1] == b"\x16" for reply in replies)
            assert any(f.tcp_flags & 0x04 and f.src == label.dest_ip for f in capture.frames if f.sport == 3390)


# -- QUIC ----------------------------------------------------------------------------------------------------
def _expand(secret: bytes, label: bytes, length: int) -> bytes:
    full = b"tls13 " + label
    return HKDFExpand(hashes.SHA256(), length, struct.pack("!HB", length, len(full)) + full + b"\x00").derive(secret)


def _client_keys(dcid: bytes) -> tuple[bytes, bytes, bytes]:
    secret = hmac.new(bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a"), dcid, hashlib.sha256).digest()
    client = _expand(secret, b"client in", 32)
    return _expand(client, b"quic key", 16), _expand(client, b"quic iv", 12), _expand(client, b"quic hp", 16)


def _varint(data: bytes, at: int) -> tuple[int, int]:
    length = 1 << (data[at] >> 6)
    value = int.from_bytes(data[at:at + length], "big") & ((1 << (8 * length - 2)) - 1)
    return value, at + length


def initial_sni(datagram: bytes) -> str:
    """Open a client Initial as an observer can (RFC 9001 5) and read the SNI of its ClientHello."""
    dcid = datagram[6:6 + datagram[5]]
    at = 6 + len(dcid)
    at += 1 + datagram[at]  # SCID
    token, at = _varint(datagram, at)
    length, at = _varint(datagram, at + token)
    key, iv, hp = _client_keys(dcid)
    sample = datagram[at + 4:at + 20]
    mask = Cipher(algorithms.AES(hp), modes.ECB()).encryptor().update(sample)
    first = datagram[0] ^ (mask[0] & 0x0F)
    pn_length = (first & 0x03) + 1
    number = bytes(b ^ m for b, m in zip(datagram[at:at + pn_length], mask[1:], strict=False))
    header = bytes((first,)) + datagram[1:at] + number
    nonce = (int.from_bytes(iv, "big") ^ int.from_bytes(number, "big")).to_bytes(12, "big")
    plain = AESGCM(key).decrypt(nonce, datagram[at + pn_length:at + length], header)
    assert plain[0] == 0x06  # CRYPTO
    _, cursor = _varint(plain, 1)  # the CRYPTO frame's offset: 0
    size, cursor = _varint(plain, cursor)
    hello = plain[cursor:cursor + size]
    assert hello[0] == 0x01  # ClientHello
    at = 4 + 2 + 32
    at += 1 + hello[at]  # session id
    at += 2 + int.from_bytes(hello[at:at + 2], "big")  # cipher suites
    at += 1 + hello[at]  # compression methods
    end = at + 2 + int.from_bytes(hello[at:at + 2], "big")
    at += 2
    while at < end:
        ext_type, ext_len = struct.unpack_from("!HH", hello, at)
        if ext_type == 0:
            name_len = struct.unpack_from("!H", hello, at + 7)[0]
            return hello[at + 9:at + 9 + name_len].decode()
        at += 4 + ext_len
    raise AssertionError("no server_name")


def test_quic_initial_keys_match_rfc_9001_appendix_a():
    key, iv, hp = protocols.quic.initial_keys(bytes.fromhex("8394c8f03e515708"), server=False)
    assert (key.hex(), iv.hex(), hp.hex()) == (
        "1f369613dd76d5467730efcbe3b1a22d", "fa044b2f42a3fd3b46fb255c", "9f50449e04a0e810283a1e9933adedd2")


def test_quic_client_initials_open_to_an_observer_and_name_their_server(generated):
    capture = generated["c2-beacon-one-connection"]
    label = next(label for label in capture.labels if "quic" in label.variant)
    initials = [f.payload for f in capture.frames if f.proto == 17 and f.dport == 443 and f.src == label.source_ip
                and f.dst == label.dest_ip and f.payload[0] & 0xF0 == 0xC0]
    assert initials and all(len(datagram) >= 1200 for datagram in initials)
    assert initial_sni(initials[0]) == "h3.merlin-edge.example"
    later = [f for f in capture.frames if f.proto == 17 and f.src == label.source_ip and f.dst == label.dest_ip
             and not f.payload[0] & 0x80]
    assert later  # 1-RTT packets: short headers, opaque


# -- C2 rhythms -------------------------------------------------------------------------------------------
def test_fast_beacons_check_in_more_often_than_every_five_seconds(generated):
    capture = generated["c2-beacon-fast"]
    label = next(label for label in capture.labels if label.variant.startswith("cobalt-strike"))
    syns = [f.ts for f in capture.frames if f.src == label.source_ip and f.dst == label.dest_ip
            and f.tcp_flags == 0x02]
    assert len(syns) >= 5
    assert statistics.median(b - a for a, b in itertools.pairwise(syns)) < 5.0


def test_one_connection_beacons_burst_inside_a_single_flow(generated):
    capture = generated["c2-beacon-one-connection"]
    label = next(label for label in capture.labels if "http2" in label.variant)
    frames = [f for f in capture.frames if f.proto == 6 and {f.src, f.dst} == {label.source_ip, label.dest_ip}]
    assert sum(f.tcp_flags == 0x02 for f in frames) == 1
    bursts = [f.ts for f in frames if f.src == label.source_ip and f.payload]
    assert max(b - a for a, b in itertools.pairwise(bursts)) >= 4.0


# -- ARP poisoning from the data plane ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def poisoned(tmp_path_factory):
    pcap = tmp_path_factory.mktemp("poisoned") / "arp.pcap"
    summary = write("arp-spoofing-data-plane", pcap, seed=TEST_SEED, duration=600)
    from appliance.simulate.labels import labels_path, read_labels

    assert summary.labels == 2
    return [decode(ts, raw) for ts, raw in read_pcap(pcap)], read_labels(labels_path(pcap))


def test_forged_replies_are_the_only_arp_about_the_gateway(poisoned):
    frames, labels = poisoned
    gateway = build_office(TEST_SEED).gateway
    impostors = {label.source_mac for label in labels}
    about_gateway = [f for f in frames if f.arp and gateway.ip in (f.arp[2], f.arp[4])]
    assert about_gateway
    assert {f.arp[1] for f in about_gateway} == impostors  # their forged replies, and their own requests
    replies = [f for f in about_gateway if f.arp[0] == 2]
    assert len(replies) > len(about_gateway) / 2


def test_victims_traffic_moves_to_the_impostor_mid_session_and_is_forwarded(poisoned):
    frames, labels = poisoned
    gateway = build_office(TEST_SEED).gateway
    impostors = {label.source_mac for label in labels}
    attackers = {label.source_ip for label in labels}
    sessions: dict[tuple, list[str]] = defaultdict(list)
    forwarded = []
    for frame in frames:
        if frame.ethertype != 0x0800 or not frame.src.startswith("10.20."):
            continue
        if frame.proto == 6 and not frame.dst.startswith("10.") and frame.eth_src not in impostors:
            sessions[(frame.src, frame.sport, frame.dst, frame.dport)].append(frame.eth_dst)
        if frame.eth_src in impostors and frame.eth_dst == gateway.mac and frame.src not in attackers:
            forwarded.append(frame)  # a victim's packet, sent on by the impostor
    switched = [key for key, macs in sessions.items() if macs[0] == gateway.mac and macs[-1] in impostors]
    assert switched, "a victim's session that starts via the gateway and ends via the impostor"
    assert forwarded
    assert all(Ether(f.raw)[IP].ttl == 127 for f in forwarded)  # Windows victims' TTL, one hop less


# -- kerberoasting with AES only ---------------------------------------------------------------------------
def test_aes_kerberoasting_asks_and_gets_aes_only(generated):
    capture = generated["kerberoasting-aes"]
    roaster = capture.labels[0].source_ip
    etypes, services = set(), set()
    for frame in capture.frames:
        if frame.proto == 6 and 88 in (frame.sport, frame.dport) and frame.payload and roaster in (frame.src,
                                                                                                      frame.dst):
            message = Ether(frame.raw)[Kerberos].root
            kind = int(message.msgType.val)
            if kind == 12:
                etypes |= {int(e.val) for e in message.reqBody.etype}
                services.add(tuple(s.val for s in message.reqBody.sname.nameString))
            elif kind == 13:
                etypes.add(int(message.ticket.encPart.etype.val))
    assert etypes == {17, 18}
    assert len(services) >= 15


def test_the_benign_office_is_never_labelled(generated):
    assert generated["benign-office"].labels == []
