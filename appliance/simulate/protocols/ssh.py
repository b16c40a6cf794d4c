"""SSH transport (RFC 4253): identification banners and a clear-text KEXINIT, then opaque packets."""

from __future__ import annotations

import random
import struct

from appliance.simulate.tcp import TcpConversation

CLIENT_BANNERS = (
    b"SSH-2.0-OpenSSH_for_Windows_9.5\r\n",
    b"SSH-2.0-PuTTY_Release_0.81\r\n",
    b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5\r\n",
)
SERVER_BANNER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"
ATTACK_BANNERS = (b"SSH-2.0-libssh2_1.10.0\r\n", b"SSH-2.0-Go\r\n", b"SSH-2.0-paramiko_3.4.0\r\n")

_KEX = b"curve25519-sha256,ecdh-sha2-nistp256,diffie-hellman-group14-sha256,ext-info-c"
_HOSTKEY = b"ssh-ed25519,ecdsa-sha2-nistp256,rsa-sha2-512,rsa-sha2-256"
_CIPHERS = b"chacha20-poly1305@openssh.com,aes128-gcm@openssh.com,aes256-gcm@openssh.com,aes128-ctr"
_MACS = b"umac-64-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha2-256"
_COMPRESSION = b"none,zlib@openssh.com"


def _name_list(names: bytes) -> bytes:
    return struct.pack("!I", len(names)) + names


def kexinit(rng: random.Random) -> bytes:
    payload = (
        b"\x14"
        + rng.randbytes(16)
        + _name_list(_KEX)
        + _name_list(_HOSTKEY)
        + _name_list(_CIPHERS) * 2
        + _name_list(_MACS) * 2
        + _name_list(_COMPRESSION) * 2
        + _name_list(b"") * 2
        + b"\x00"
        + bytes(4)
    )
    padding = 8 - (len(payload) + 5) % 8
    padding += 8 if padding < 4 else 0
    return struct.pack("!IB", len(payload) + padding + 1, padding) + payload + bytes(padding)


def encrypted_packets(conv: TcpConversation, sizes: list[int], offset: int) -> bytes:
    """Packets after key exchange: a 4-byte length (chacha20 encrypts even that) and random-looking body."""
    return b"".join(conv.capture.filler(size, offset + 97 * i) for i, size in enumerate(sizes))


def handshake(conv: TcpConversation, rng: random.Random, client_banner: bytes) -> None:
    """Banners, KEXINITs and the ECDH exchange: what every SSH session starts with."""
    conv.open()
    conv.server_sends(SERVER_BANNER, processing=0.002)
    conv.client_sends(client_banner)
    conv.client_sends(kexinit(rng))
    conv.server_sends(kexinit(rng))
    offset = rng.getrandbits(16)
    conv.client_sends(encrypted_packets(conv, [48], offset))
    conv.server_sends(encrypted_packets(conv, [564, 16], offset + 1), processing=0.004)
