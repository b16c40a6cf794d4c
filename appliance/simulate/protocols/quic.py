"""QUIC version 1 (RFC 9000) as a mirror port sees it: long-header Initial packets protected with the keys
every observer can derive from the client's Destination Connection ID (RFC 9001 section 5), so the TLS
ClientHello inside (and its SNI) can be read back as Zeek and Wireshark do; then Handshake packets and
short-header 1-RTT packets, which only the endpoints can open and which are opaque here too."""

from __future__ import annotations

import hashlib
import hmac
import random
import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

from appliance.simulate.capture import Capture, Host
from appliance.simulate.protocols import tls

PORT = 443
VERSION_1 = 0x00000001
INITIAL_SALT = bytes.fromhex("38762cf7f55934b34d179ae6a4c80cadccbb7f0a")
MIN_CLIENT_DATAGRAM = 1200  # a client pads its Initial datagrams to at least this (RFC 9000 14.1)
MAX_DATAGRAM = 1350
TYPE_INITIAL, TYPE_HANDSHAKE = 0, 2
FRAME_PADDING, FRAME_ACK, FRAME_CRYPTO = 0x00, 0x02, 0x06
TAG = 16


def varint(value: int) -> bytes:
    if value < 0x40:
        return bytes((value,))
    if value < 0x4000:
        return struct.pack("!H", 0x4000 | value)
    if value < 0x40000000:
        return struct.pack("!I", 0x80000000 | value)
    return struct.pack("!Q", 0xC000000000000000 | value)


def _expand_label(secret: bytes, label: bytes, length: int) -> bytes:
    full = b"tls13 " + label
    info = struct.pack("!HB", length, len(full)) + full + b"\x00"
    return HKDFExpand(hashes.SHA256(), length, info).derive(secret)


def initial_keys(dcid: bytes, server: bool) -> tuple[bytes, bytes, bytes]:
    """(key, iv, header protection key) of the client's or the server's Initial packets."""
    initial_secret = hmac.new(INITIAL_SALT, dcid, hashlib.sha256).digest()  # HKDF-Extract
    secret = _expand_label(initial_secret, b"server in" if server else b"client in", 32)
    return _expand_label(secret, b"quic key", 16), _expand_label(secret, b"quic iv", 12), _expand_label(
        secret, b"quic hp", 16
    )


def _protect(header: bytes, pn_offset: int, pn_length: int, packet_number: int, payload: bytes,
             keys: tuple[bytes, bytes, bytes]) -> bytes:
    """AEAD-seal the payload with the header as associated data, then mask the first byte and the packet
    number with AES-ECB over a sample of the ciphertext (RFC 9001 5.3-5.4)."""
    key, iv, hp = keys
    nonce = (int.from_bytes(iv, "big") ^ packet_number).to_bytes(12, "big")
    sealed = AESGCM(key).encrypt(nonce, payload, header)
    sample = sealed[4 - pn_length : 20 - pn_length]
    encryptor = Cipher(algorithms.AES(hp), modes.ECB()).encryptor()
    mask = encryptor.update(sample) + encryptor.finalize()
    first = header[0] ^ (mask[0] & 0x0F)
    number = bytes(b ^ m for b, m in zip(header[pn_offset:], mask[1 : 1 + pn_length], strict=True))
    return bytes((first,)) + header[1:pn_offset] + number + sealed


def _long_header(packet_type: int, dcid: bytes, scid: bytes, token: bytes, packet_number: int,
                 payload_length: int, pn_length: int = 2) -> tuple[bytes, int]:
    first = 0xC0 | (packet_type << 4) | (pn_length - 1)
    header = bytes((first,)) + struct.pack("!I", VERSION_1) + bytes((len(dcid),)) + dcid + bytes((len(scid),)) + scid
    if packet_type == TYPE_INITIAL:
        header += varint(len(token)) + token
    header += varint(pn_length + payload_length + TAG)
    pn_offset = len(header)
    return header + packet_number.to_bytes(pn_length, "big"), pn_offset


def _crypto_frame(offset: int, data: bytes) -> bytes:
    return bytes((FRAME_CRYPTO,)) + varint(offset) + varint(len(data)) + data


def client_initial(dcid: bytes, scid: bytes, client_hello: bytes, packet_number: int = 0) -> bytes:
    """The client's first datagram: an Initial carrying the ClientHello, padded to 1200 bytes."""
    frames = _crypto_frame(0, client_hello)
    overhead = 1 + 4 + 1 + len(dcid) + 1 + len(scid) + 1 + 2 + 2 + TAG
    frames += bytes(max(0, MIN_CLIENT_DATAGRAM - overhead - len(frames)))  # PADDING frames are zero bytes
    header, pn_offset = _long_header(TYPE_INITIAL, dcid, scid, b"", packet_number, len(frames))
    return _protect(header, pn_offset, 2, packet_number, frames, initial_keys(dcid, server=False))


def server_first_flight(rng: random.Random, original_dcid: bytes, client_scid: bytes, server_scid: bytes,
                        server_hello: bytes, handshake_size: int) -> bytes:
    """The server's Initial (ACK + ServerHello, under keys from the client's original DCID) coalesced with
    a Handshake packet (EncryptedExtensions, certificate, Finished: opaque to observers)."""
    frames = bytes((FRAME_ACK, 0, 0, 0, 0)) + _crypto_frame(0, server_hello)
    header, pn_offset = _long_header(TYPE_INITIAL, client_scid, server_scid, b"", 0, len(frames))
    initial = _protect(header, pn_offset, 2, 0, frames, initial_keys(original_dcid, server=True))
    handshake_header, _ = _long_header(TYPE_HANDSHAKE, client_scid, server_scid, b"", 0, handshake_size)
    return initial + handshake_header[:-2] + rng.randbytes(2 + handshake_size + TAG)


def client_handshake_finished(rng: random.Random, dcid: bytes, scid: bytes, original_dcid: bytes) -> bytes:
    """The client's ACK in an Initial and its Finished in a Handshake packet, padded like every client
    datagram that carries an Initial. Initial keys stay those of the client's original DCID."""
    frames = bytes((FRAME_ACK, 0, 0, 0, 0))
    size = MIN_CLIENT_DATAGRAM - 80
    header, pn_offset = _long_header(TYPE_INITIAL, dcid, scid, b"", 1, size)
    padded = frames + bytes(size - len(frames))
    initial = _protect(header, pn_offset, 2, 1, padded, initial_keys(original_dcid, server=False))
    handshake_header, _ = _long_header(TYPE_HANDSHAKE, dcid, scid, b"", 0, 36)
    return initial + handshake_header[:-2] + rng.randbytes(2 + 36 + TAG)


def short_packet(rng: random.Random, dcid: bytes, payload_size: int, key_phase: int = 0) -> bytes:
    """A 1-RTT packet: fixed bit, spin bit off, key phase, 2-byte packet number, then ciphertext."""
    first = 0x40 | (key_phase << 2) | 0x01
    return bytes((first,)) + dcid + rng.randbytes(2 + payload_size + TAG)


class QuicConnection:
    """One QUIC connection between an internal client and a server on UDP 443, from the client's first
    Initial to its last 1-RTT packet. Timing as on the LAN's mirror: the server answers one RTT later."""

    def __init__(self, capture: Capture, rng: random.Random, client: Host, server: Host, sport: int, ts: float,
                 rtt: float) -> None:
        self.capture, self.rng, self.client, self.server = capture, rng, client, server
        self.sport, self.ts, self.rtt = sport, ts, rtt
        self.client_cid, self.server_cid = rng.randbytes(8), rng.randbytes(8)

    def _send(self, from_client: bool, datagram: bytes, ts: float) -> None:
        if from_client:
            self.capture.udp(ts, self.client, self.server, self.sport, PORT, datagram)
        else:
            self.capture.udp(ts, self.server, self.client, PORT, self.sport, datagram)

    def handshake(self, sni: str, profile: tls.ClientProfile) -> QuicConnection:
        """Initial with the ClientHello; the server's Initial + Handshake flight (the certificate spills into a
        second datagram); the client's Finished."""
        rng = self.rng
        original_dcid = rng.randbytes(8)
        self._send(True, client_initial(original_dcid, self.client_cid, tls.client_hello_message(rng, sni, profile)),
                   self.ts)
        self.ts += self.rtt
        first = server_first_flight(rng, original_dcid, self.client_cid, self.server_cid, tls.server_hello_message(rng),
                                    MAX_DATAGRAM - 260)
        self._send(False, first, self.ts)
        handshake_header, _ = _long_header(TYPE_HANDSHAKE, self.client_cid, self.server_cid, b"", 1, 1200)
        self._send(False, handshake_header[:-2] + rng.randbytes(2 + rng.randint(600, 1200) + TAG), self.ts + 0.0003)
        self.ts += 0.0005
        self._send(True, client_handshake_finished(rng, self.server_cid, self.client_cid, original_dcid), self.ts)
        return self

    def exchange(self, upload: int, download: int, think: float = 0.0) -> None:
        """A request and its response as 1-RTT packets, each side acknowledging every second packet."""
        self.ts += think
        self._stream(True, upload)
        self.ts += self.rtt + 0.005
        self._stream(False, download)

    def _stream(self, from_client: bool, size: int) -> None:
        chunk = MAX_DATAGRAM - 1 - 8 - 2 - TAG
        dcid_out, dcid_back = (self.server_cid, self.client_cid) if from_client else (self.client_cid, self.server_cid)
        count = max(1, -(-size // chunk))
        for index in range(count):
            self._send(from_client, short_packet(self.rng, dcid_out, min(chunk, size - index * chunk) or 20), self.ts)
            if index & 1 or index == count - 1:
                self._send(not from_client, short_packet(self.rng, dcid_back, 8), self.ts + 0.0002)
            self.ts += 0.00012

    def close(self) -> None:
        """CONNECTION_CLOSE in a last 1-RTT packet from the client."""
        self.ts += 0.001
        self._send(True, short_packet(self.rng, self.server_cid, 12), self.ts)
