"""SSH (RFC 4253/4252) as a mirror port sees it: identification banners and KEXINITs in clear, the ECDH
exchange, then encrypted packets whose sizes follow from the message inside and the cipher.

Sizes are computed, not guessed: binary packet = length(4) + padding length(1) + payload + padding (>= 4
bytes, up to the cipher's block) + MAC. With chacha20-poly1305 (OpenSSH's default) a SERVICE_ACCEPT is 44
bytes on the wire, USERAUTH_SUCCESS 28 (16 less: Zeek's SSH analyser, src/analyzer/protocol/ssh/SSH.cc,
infers a successful login from exactly that) and a USERAUTH_FAILURE listing "publickey,password" 52, as in
the real OpenSSH captures of Zeek's test suite (testing/btest/Traces/ssh/). Every packet after NEWKEYS goes
out in its own TCP segment, as OpenSSH writes them; a failed password is answered after PAM's two-second
fail delay (pam_faildelay / pam_unix), a good one at once."""

from __future__ import annotations

import random
import struct
from dataclasses import dataclass

from appliance.simulate.tcp import TcpConversation

PORT = 22
SERVER_BANNER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"
CLIENT_BANNERS = (
    b"SSH-2.0-OpenSSH_for_Windows_9.5\r\n",
    b"SSH-2.0-PuTTY_Release_0.81\r\n",
    b"SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5\r\n",
)
# The libraries guessing tools are built on: Hydra (libssh), Medusa (libssh2), Patator (paramiko), Go tools.
HYDRA_BANNER = b"SSH-2.0-libssh_0.10.6\r\n"
MEDUSA_BANNER = b"SSH-2.0-libssh2_1.11.0\r\n"
PATATOR_BANNER = b"SSH-2.0-paramiko_3.4.0\r\n"
GO_BANNER = b"SSH-2.0-Go\r\n"
ATTACK_BANNERS = (MEDUSA_BANNER, GO_BANNER, PATATOR_BANNER)
ANSIBLE_BANNER = b"SSH-2.0-OpenSSH_9.2p1 Debian-2+deb12u3\r\n"  # Ansible drives the system's ssh client

MSG_KEXINIT, MSG_NEWKEYS, MSG_KEX_ECDH_INIT, MSG_KEX_ECDH_REPLY = 20, 21, 30, 31
METHODS_PUBLICKEY_PASSWORD = b"publickey,password"
TOO_MANY_FAILURES = b"Too many authentication failures"
PAM_FAIL_DELAY = 2.0  # seconds before sshd answers a wrong password (pam_unix on Debian)


@dataclass(frozen=True)
class Cipher:
    """How a cipher frames a packet: AEAD and -etm MACs leave the length field out of the block alignment."""

    name: bytes
    block: int
    mac: int


CHACHA20_POLY1305 = Cipher(b"chacha20-poly1305@openssh.com", 8, 16)
AES128_GCM = Cipher(b"aes128-gcm@openssh.com", 16, 16)
AES128_CTR_HMAC_SHA256_ETM = Cipher(b"aes128-ctr", 16, 32)


@dataclass(frozen=True)
class Implementation:
    """What one SSH stack offers in its KEXINIT (the lists HASSH fingerprints) and which cipher it ends on."""

    banner: bytes
    kex: bytes
    host_keys: bytes
    ciphers: bytes
    macs: bytes
    cipher: Cipher = CHACHA20_POLY1305


_OPENSSH_CIPHERS = (
    b"chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,aes128-gcm@openssh.com,aes256-gcm@openssh.com"
)
_OPENSSH_MACS = (
    b"umac-64-etm@openssh.com,umac-128-etm@openssh.com,hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,"
    b"hmac-sha1-etm@openssh.com,umac-64@openssh.com,umac-128@openssh.com,hmac-sha2-256,hmac-sha2-512,hmac-sha1"
)
_OPENSSH_HOST_KEYS = (
    b"ssh-ed25519-cert-v01@openssh.com,ecdsa-sha2-nistp256-cert-v01@openssh.com,rsa-sha2-512-cert-v01@openssh.com,"
    b"ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,rsa-sha2-512,rsa-sha2-256"
)
OPENSSH_CLIENT = Implementation(
    CLIENT_BANNERS[2],
    b"sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,"
    b"ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,"
    b"diffie-hellman-group18-sha512,diffie-hellman-group14-sha256,ext-info-c,kex-strict-c-v00@openssh.com",
    _OPENSSH_HOST_KEYS,
    _OPENSSH_CIPHERS,
    _OPENSSH_MACS,
)
OPENSSH_SERVER = Implementation(
    SERVER_BANNER,
    b"sntrup761x25519-sha512@openssh.com,curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,"
    b"ecdh-sha2-nistp384,ecdh-sha2-nistp521,diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,"
    b"diffie-hellman-group18-sha512,diffie-hellman-group14-sha256,kex-strict-s-v00@openssh.com",
    b"rsa-sha2-512,rsa-sha2-256,ecdsa-sha2-nistp256,ssh-ed25519",
    _OPENSSH_CIPHERS,
    _OPENSSH_MACS,
)
PUTTY_CLIENT = Implementation(
    CLIENT_BANNERS[1],
    b"curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,"
    b"diffie-hellman-group18-sha512,diffie-hellman-group17-sha512,diffie-hellman-group16-sha512,"
    b"diffie-hellman-group15-sha512,diffie-hellman-group14-sha256,ext-info-c,kex-strict-c-v00@openssh.com",
    b"ssh-ed448,ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,rsa-sha2-512,rsa-sha2-256",
    b"aes256-gcm@openssh.com,aes256-ctr,aes192-ctr,aes128-gcm@openssh.com,aes128-ctr,chacha20-poly1305@openssh.com",
    b"hmac-sha2-256,hmac-sha1,hmac-sha2-512,hmac-sha2-256-etm@openssh.com,hmac-sha1-etm@openssh.com",
    AES128_GCM,
)
WINDOWS_CLIENT = Implementation(
    CLIENT_BANNERS[0], OPENSSH_CLIENT.kex, _OPENSSH_HOST_KEYS, _OPENSSH_CIPHERS, _OPENSSH_MACS
)
LIBSSH_CLIENT = Implementation(  # Hydra's ssh module
    HYDRA_BANNER,
    b"curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,"
    b"diffie-hellman-group18-sha512,diffie-hellman-group16-sha512,diffie-hellman-group-exchange-sha256,"
    b"diffie-hellman-group14-sha256,ext-info-c,kex-strict-c-v00@openssh.com",
    b"ssh-ed25519,ecdsa-sha2-nistp521,ecdsa-sha2-nistp384,ecdsa-sha2-nistp256,rsa-sha2-512,rsa-sha2-256",
    b"chacha20-poly1305@openssh.com,aes256-gcm@openssh.com,aes128-gcm@openssh.com,aes256-ctr,aes192-ctr,aes128-ctr",
    b"hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha2-256,hmac-sha2-512",
)
LIBSSH2_CLIENT = Implementation(  # Medusa's ssh module
    MEDUSA_BANNER,
    b"curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,"
    b"diffie-hellman-group-exchange-sha256,diffie-hellman-group16-sha512,diffie-hellman-group18-sha512,"
    b"diffie-hellman-group14-sha256,diffie-hellman-group14-sha1,ext-info-c",
    b"ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,ssh-ed25519,rsa-sha2-256,rsa-sha2-512,ssh-rsa",
    b"aes128-gcm@openssh.com,aes256-gcm@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr,aes256-cbc,aes128-cbc",
    b"hmac-sha2-256,hmac-sha2-512,hmac-sha1",
    AES128_GCM,
)
PARAMIKO_CLIENT = Implementation(  # Patator's ssh_login, and many home-made scripts
    PATATOR_BANNER,
    b"curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,"
    b"diffie-hellman-group16-sha512,diffie-hellman-group-exchange-sha256,diffie-hellman-group14-sha256,ext-info-c",
    b"ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,rsa-sha2-512,rsa-sha2-256,ssh-rsa",
    b"aes128-ctr,aes192-ctr,aes256-ctr,aes128-cbc,aes192-cbc,aes256-cbc,3des-cbc",
    b"hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha2-256,hmac-sha2-512,hmac-sha1",
    AES128_CTR_HMAC_SHA256_ETM,
)
GO_CLIENT = Implementation(
    GO_BANNER,
    b"curve25519-sha256,curve25519-sha256@libssh.org,ecdh-sha2-nistp256,ecdh-sha2-nistp384,ecdh-sha2-nistp521,"
    b"diffie-hellman-group14-sha256,diffie-hellman-group14-sha1,ext-info-c,kex-strict-c-v00@openssh.com",
    b"ssh-ed25519,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,rsa-sha2-256,rsa-sha2-512,ssh-rsa",
    b"aes128-gcm@openssh.com,aes256-gcm@openssh.com,chacha20-poly1305@openssh.com,aes128-ctr,aes192-ctr,aes256-ctr",
    b"hmac-sha2-256-etm@openssh.com,hmac-sha2-512-etm@openssh.com,hmac-sha2-256,hmac-sha2-512,hmac-sha1",
    AES128_GCM,
)
_CLIENTS_BY_BANNER = {impl.banner: impl for impl in (OPENSSH_CLIENT, PUTTY_CLIENT, WINDOWS_CLIENT, LIBSSH_CLIENT,
                                                      LIBSSH2_CLIENT, PARAMIKO_CLIENT, GO_CLIENT)}
_SERVER_SIG_ALGS = (
    b"ssh-ed25519,sk-ssh-ed25519@openssh.com,ecdsa-sha2-nistp256,ecdsa-sha2-nistp384,ecdsa-sha2-nistp521,"
    b"sk-ecdsa-sha2-nistp256@openssh.com,webauthn-sk-ecdsa-sha2-nistp256@openssh.com,ssh-dss,ssh-rsa,"
    b"rsa-sha2-256,rsa-sha2-512"
)


def client_for(banner: bytes) -> Implementation:
    return _CLIENTS_BY_BANNER.get(banner, OPENSSH_CLIENT)


def _string(data: bytes) -> bytes:
    return struct.pack("!I", len(data)) + data


def clear_packet(payload: bytes) -> bytes:
    """A packet before NEWKEYS: no MAC, and the length field counts in the 8-byte alignment."""
    padding = -(5 + len(payload)) % 8
    padding += 8 if padding < 4 else 0
    return struct.pack("!IB", len(payload) + padding + 1, padding) + payload + bytes(padding)


def encrypted_size(payload_len: int, cipher: Cipher) -> int:
    """Bytes on the wire for a payload after NEWKEYS (AEAD / encrypt-then-MAC framing)."""
    body = 1 + payload_len
    padding = -body % cipher.block
    padding += cipher.block if padding < 4 else 0
    return 4 + body + padding + cipher.mac


def kexinit(rng: random.Random, impl: Implementation) -> bytes:
    payload = (
        bytes((MSG_KEXINIT,))
        + rng.randbytes(16)
        + _string(impl.kex)
        + _string(impl.host_keys)
        + _string(impl.ciphers) * 2
        + _string(impl.macs) * 2
        + _string(b"none,zlib@openssh.com") * 2
        + _string(b"") * 2
        + b"\x00"
        + bytes(4)
    )
    return clear_packet(payload)


# -- payload sizes of the messages the sessions exchange (RFC 4252/4254) -----------------------------------
SERVICE_REQUEST = SERVICE_ACCEPT = 1 + 4 + len(b"ssh-userauth")
USERAUTH_SUCCESS = 1
CHANNEL_DATA_OVERHEAD = 1 + 4 + 4  # message, recipient channel, data length
ED25519_KEY_BLOB = 4 + 11 + 4 + 32
ED25519_SIGNATURE_BLOB = 4 + 11 + 4 + 64
RSA3072_KEY_BLOB = 4 + 7 + 4 + 3 + 4 + 385
RSA3072_SIGNATURE_BLOB = 4 + 12 + 4 + 384
ECDSA256_KEY_BLOB = 4 + 19 + 4 + 8 + 4 + 65
HOSTKEYS_ANNOUNCEMENT = 1 + 4 + len(b"hostkeys-00@openssh.com") + 1 + sum(
    4 + blob for blob in (RSA3072_KEY_BLOB, ECDSA256_KEY_BLOB, ED25519_KEY_BLOB)
)


def userauth_none(user: str) -> int:
    return 1 + 4 + len(user) + 4 + len(b"ssh-connection") + 4 + len(b"none")


def userauth_password(user: str, password: str) -> int:
    return 1 + 4 + len(user) + 4 + len(b"ssh-connection") + 4 + len(b"password") + 1 + 4 + len(password.encode())


def userauth_publickey(user: str, algorithm: bytes, key_blob: int, signature_blob: int = 0) -> int:
    """A publickey request: without a signature it asks whether the key would do (answered PK_OK)."""
    size = 1 + 4 + len(user) + 4 + len(b"ssh-connection") + 4 + len(b"publickey") + 1
    size += 4 + len(algorithm) + 4 + key_blob
    return size + (4 + signature_blob if signature_blob else 0)


def userauth_failure(methods: bytes) -> int:
    return 1 + 4 + len(methods) + 1


def disconnect(description: bytes) -> int:
    return 1 + 4 + 4 + len(description) + 4


def ext_info() -> int:
    extensions = [(b"server-sig-algs", _SERVER_SIG_ALGS), (b"publickey-hostbound@openssh.com", b"0"),
                  (b"ping@openssh.com", b"0")]
    return 1 + 4 + sum(4 + len(name) + 4 + len(value) for name, value in extensions)


# Public values of the key exchange methods the stacks above can agree on: (client's, server's) in bytes.
KEX_PUBLIC_SIZES = {
    b"sntrup761x25519-sha512@openssh.com": (1158 + 32, 1039 + 32),
    b"curve25519-sha256": (32, 32),
    b"curve25519-sha256@libssh.org": (32, 32),
    b"ecdh-sha2-nistp256": (65, 65),
}


def negotiated_kex(client: Implementation, server: Implementation) -> bytes:
    """RFC 4253 7.1: the first of the client's methods that the server supports."""
    offered = server.kex.split(b",")
    return next(name for name in client.kex.split(b",") if name in offered and name in KEX_PUBLIC_SIZES)


class SshSession:
    """One SSH connection over a TcpConversation, message by message, with each encrypted packet's size as
    the chosen client's cipher makes it."""

    def __init__(self, conv: TcpConversation, rng: random.Random, client: Implementation) -> None:
        self.conv = conv
        self.rng = rng
        self.client = client
        self.cipher = client.cipher
        self._offset = rng.getrandbits(17)

    def _opaque(self, payload_len: int) -> bytes:
        size = encrypted_size(payload_len, self.cipher)
        self._offset += 97
        return self.conv.capture.filler(size, self._offset)

    def client_packet(self, payload_len: int, think: float = 0.0002) -> None:
        self.conv.client_sends(self._opaque(payload_len), think=think)

    def server_packet(self, payload_len: int, processing: float = 0.0003) -> None:
        self.conv.server_sends(self._opaque(payload_len), processing=processing)

    # -- transport ---------------------------------------------------------------------------------------
    def handshake(self) -> SshSession:
        """TCP, banners (the server speaks first), both KEXINITs, curve25519 ECDH, NEWKEYS both ways. The
        server's ECDH reply, its NEWKEYS and its EXT_INFO leave in one write, as OpenSSH sends them."""
        conv, rng = self.conv, self.rng
        conv.open()
        conv.server_sends(SERVER_BANNER, processing=0.002)
        conv.client_sends(self.client.banner)
        conv.client_sends(kexinit(rng, self.client))
        conv.server_sends(kexinit(rng, OPENSSH_SERVER))
        client_public, server_public = KEX_PUBLIC_SIZES[negotiated_kex(self.client, OPENSSH_SERVER)]
        conv.client_sends(clear_packet(bytes((MSG_KEX_ECDH_INIT,)) + _string(rng.randbytes(client_public))))
        host_key = _string(b"ssh-ed25519") + _string(rng.randbytes(32))
        signature = _string(b"ssh-ed25519") + _string(rng.randbytes(64))
        reply = clear_packet(bytes((MSG_KEX_ECDH_REPLY,)) + _string(host_key) + _string(rng.randbytes(server_public))
                             + _string(signature))
        newkeys = clear_packet(bytes((MSG_NEWKEYS,)))
        tail = self._opaque(ext_info()) if b"ext-info-c" in self.client.kex else b""
        conv.server_sends(reply + newkeys + tail, processing=0.004)
        conv.client_sends(newkeys)
        self.client_packet(SERVICE_REQUEST)
        self.server_packet(SERVICE_ACCEPT)
        return self

    # -- authentication -------------------------------------------------------------------------------
    def ask_methods(self, user: str, methods: bytes = METHODS_PUBLICKEY_PASSWORD) -> None:
        """The "none" request every client starts with; the server lists what it accepts."""
        self.client_packet(userauth_none(user))
        self.server_packet(userauth_failure(methods), processing=0.001)

    def password(self, user: str, password: str, accepted: bool, think: float = 0.0005,
                 methods: bytes = METHODS_PUBLICKEY_PASSWORD) -> None:
        self.client_packet(userauth_password(user, password), think=think)
        if accepted:
            self.server_packet(USERAUTH_SUCCESS, processing=0.02 + self.rng.random() * 0.03)
        else:
            self.server_packet(userauth_failure(methods), processing=PAM_FAIL_DELAY + self.rng.random() * 0.3)

    def publickey(self, user: str, rsa: bool = False) -> None:
        """Offer the key, get PK_OK, sign: what an admin's agent or Ansible's key does."""
        algorithm, blob, signature = (
            (b"rsa-sha2-512", RSA3072_KEY_BLOB, RSA3072_SIGNATURE_BLOB) if rsa
            else (b"ssh-ed25519", ED25519_KEY_BLOB, ED25519_SIGNATURE_BLOB)
        )
        self.client_packet(userauth_publickey(user, algorithm, blob))
        self.server_packet(1 + 4 + len(algorithm) + 4 + blob, processing=0.001)  # PK_OK
        self.client_packet(userauth_publickey(user, algorithm, blob, signature), think=0.003)
        self.server_packet(USERAUTH_SUCCESS, processing=0.004)

    def server_gives_up(self) -> None:
        """sshd's MaxAuthTries reached: DISCONNECT "Too many authentication failures", then FIN."""
        self.server_packet(disconnect(TOO_MANY_FAILURES), processing=0.0005)
        self.conv.close(by_client=False)

    # -- connection protocol ----------------------------------------------------------------------------
    def open_session(self, command: bytes | None = None) -> None:
        """CHANNEL_OPEN "session", the server's hostkeys announcement and confirmation, then a pty and a shell
        (interactive) or one exec request (scp, rsync, Ansible modules)."""
        self.client_packet(1 + 4 + 7 + 4 + 4 + 4, think=0.001)
        self.server_packet(HOSTKEYS_ANNOUNCEMENT)
        self.server_packet(1 + 4 + 4 + 4 + 4)  # OPEN_CONFIRMATION
        if command is None:
            self.client_packet(1 + 4 + 4 + 7 + 1 + 4 + 14 + 16 + 4 + 270)  # pty-req xterm-256color, modes
            self.client_packet(1 + 4 + 4 + 5 + 1)  # shell
            self.server_packet(1 + 4 + 4 + 4 + 5 + 1 + 4 + 8)  # window adjust + success
            self.server_packet(CHANNEL_DATA_OVERHEAD + self.rng.randint(300, 900), processing=0.03)  # motd, prompt
        else:
            self.client_packet(1 + 4 + 4 + 4 + 1 + 4 + len(command))
            self.server_packet(1 + 4)  # CHANNEL_SUCCESS

    def keystrokes(self, count: int) -> None:
        """One CHANNEL_DATA per key and its echo; now and then the command's output."""
        rng = self.rng
        for _ in range(count):
            self.client_packet(CHANNEL_DATA_OVERHEAD + 1, think=rng.expovariate(4.0))
            output = 1 if rng.random() < 0.85 else rng.randint(80, 1300)
            self.server_packet(CHANNEL_DATA_OVERHEAD + output, processing=0.0005 if output == 1 else 0.01)

    def stream(self, size: int, to_server: bool) -> None:
        """Bulk data over the channel (scp, rsync), in 32 KiB CHANNEL_DATA packets with the window's acks."""
        chunk = 32768
        for offset in range(0, size, chunk):
            payload = CHANNEL_DATA_OVERHEAD + min(chunk, size - offset)
            if to_server:
                self.client_packet(payload)
            else:
                self.server_packet(payload, processing=0.0)

    def finish_channel(self) -> None:
        """The exit status, EOF and CLOSE both ways; the connection stays up for the next channel."""
        self.server_packet(1 + 4 + 4 + 11 + 1 + 4)  # exit-status
        self.server_packet(1 + 4)  # EOF
        self.server_packet(1 + 4)  # CLOSE
        self.client_packet(1 + 4)

    def close_session(self) -> None:
        """The channel's end, then the client's FIN."""
        self.finish_channel()
        self.conv.close(by_client=True)
