"""The data key: 32 random bytes that encrypt every page of the database.

Two modes:
- "key-file": generated at init, kept in `keys/data.key` readable only by the service user.
- "passphrase" (sealed): derived from the admin's passphrase with scrypt; only the salt and KDF
  parameters are on disk, so a stolen disk is unreadable. After a restart the box stays sealed until
  the passphrase is given again.
"""

from __future__ import annotations

import json
import os
import secrets

from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from appliance.store.data_dir import DataDirectory, write_private_file

KEY_BYTES = 32
# scrypt cost: ~0.1 s and 32 MiB on a small box; stored with the salt so it can be raised later.
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1


class SealedError(Exception):
    """The database key is derived from a passphrase that has not been given since the last start."""


def generate_key() -> bytes:
    return secrets.token_bytes(KEY_BYTES)


def derive_key(passphrase: str, salt: bytes, n: int = SCRYPT_N, r: int = SCRYPT_R, p: int = SCRYPT_P) -> bytes:
    if not passphrase:
        raise ValueError("the passphrase is empty")
    return Scrypt(salt=salt, length=KEY_BYTES, n=n, r=r, p=p).derive(passphrase.encode())


def key_mode(data_dir: DataDirectory) -> str:
    return "passphrase" if data_dir.sealing_file.exists() else "key-file"


def store_key_file(data_dir: DataDirectory, key: bytes) -> None:
    write_private_file(data_dir.key_file, key.hex().encode() + b"\n")


def store_passphrase_parameters(data_dir: DataDirectory, passphrase: str) -> bytes:
    """Record a fresh salt for `passphrase` and return the key it derives."""
    salt = secrets.token_bytes(16)
    parameters = {"kdf": "scrypt", "salt": salt.hex(), "n": SCRYPT_N, "r": SCRYPT_R, "p": SCRYPT_P}
    key = derive_key(passphrase, salt)
    write_private_file(data_dir.sealing_file, json.dumps(parameters).encode())
    return key


def key_from_passphrase(data_dir: DataDirectory, passphrase: str) -> bytes:
    parameters = json.loads(data_dir.sealing_file.read_text())
    return derive_key(passphrase, bytes.fromhex(parameters["salt"]), parameters["n"], parameters["r"], parameters["p"])


def read_key_file(path: os.PathLike) -> bytes:
    with open(path, encoding="ascii") as source:
        text = source.read().strip()
    key = bytes.fromhex(text)
    if len(key) != KEY_BYTES:
        raise ValueError(f"{path} does not hold a {KEY_BYTES}-byte key")
    return key


def load_key(data_dir: DataDirectory) -> bytes:
    """The key to open the database with, or SealedError if it must come from a passphrase first."""
    if key_mode(data_dir) == "key-file":
        return read_key_file(data_dir.key_file)
    if data_dir.unsealed_key_file.exists():
        return read_key_file(data_dir.unsealed_key_file)
    raise SealedError("the database is sealed: give the passphrase to unseal it")


def remember_unsealed_key(data_dir: DataDirectory, key: bytes) -> None:
    write_private_file(data_dir.unsealed_key_file, key.hex().encode() + b"\n")


def forget_unsealed_key(data_dir: DataDirectory) -> None:
    data_dir.unsealed_key_file.unlink(missing_ok=True)
