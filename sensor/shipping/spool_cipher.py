"""The spool's encryption at rest: batches hold the LAN's host names, logins and addresses, and may wait on
disk for days (a sealed or unreachable box), so each batch file is sealed with AES-256-GCM.

The key is the sensor's own: 32 random bytes (hex, one line) in a key file of mode 0600, created on first use,
by default next to the spool (`spool.key` in the spool directory). The appliance never reads the spool, so it
never needs this key. Each file is `MAGIC || nonce (12 bytes) || ciphertext || tag (16 bytes)`, the sensor
and the batch's seq bound in as associated data: a file copied to another seq or spool does not open.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

MAGIC = b"NSXSPOOL\x01"  # never the first bytes of a msgpack batch (a map), so old plaintext files are told apart
NONCE_BYTES = 12
TAG_BYTES = 16
SEALED_OVERHEAD = len(MAGIC) + NONCE_BYTES + TAG_BYTES
KEY_BYTES = 32
KEY_FILE_NAME = "spool.key"


class SpoolKeyError(Exception):
    """The key file cannot be used: missing while sealed batches wait, unreadable, or readable by others."""


class UnreadableBatch(Exception):
    """A sealed batch that does not open: another key, or a corrupted file."""


def is_sealed(data: bytes) -> bool:
    return data.startswith(MAGIC)


class SpoolCipher:
    def __init__(self, key: bytes, agent_id: str) -> None:
        self._aead = AESGCM(key)
        self._agent = agent_id.encode()

    def _associated_data(self, seq: int) -> bytes:
        return b"netsenx-spool\x00%s\x00%d" % (self._agent, seq)

    def seal(self, seq: int, payload: bytes) -> bytes:
        nonce = secrets.token_bytes(NONCE_BYTES)
        return MAGIC + nonce + self._aead.encrypt(nonce, payload, self._associated_data(seq))

    def open(self, seq: int, sealed: bytes) -> bytes:
        if not is_sealed(sealed):
            raise UnreadableBatch("not a sealed spool batch")
        nonce = sealed[len(MAGIC) : len(MAGIC) + NONCE_BYTES]
        try:
            return self._aead.decrypt(nonce, sealed[len(MAGIC) + NONCE_BYTES :], self._associated_data(seq))
        except InvalidTag as error:
            raise UnreadableBatch("the spool key does not open it (another key, or a corrupted file)") from error


def read_key_file(path: Path) -> bytes:
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        raise SpoolKeyError(f"spool key file {path} is readable by others (mode {mode:04o}): chmod 600 it")
    try:
        key = bytes.fromhex(path.read_text(encoding="ascii").strip())
    except (UnicodeDecodeError, ValueError) as error:
        raise SpoolKeyError(f"spool key file {path} does not hold a hex key") from error
    if len(key) != KEY_BYTES:
        raise SpoolKeyError(f"spool key file {path} does not hold a {KEY_BYTES}-byte key")
    return key


def create_key_file(path: Path) -> bytes:
    """A new random key, written whole (temporary file, fsync, rename) with mode 0600 from the start."""
    return write_key_file(path, secrets.token_bytes(KEY_BYTES))


def write_key_file(path: Path, key: bytes) -> bytes:
    """`key` written whole (temporary file, fsync, rename) with mode 0600 from the start."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(path.name + ".new")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(descriptor, key.hex().encode() + b"\n")
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
    os.replace(temporary, path)
    return key
