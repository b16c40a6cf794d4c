"""The data key: 32 random bytes that encrypt every page of the database.

Two modes:
- "key-file": generated at init, kept in `keys/data.key` readable only by the service user.
- "passphrase" (sealed): derived from the admin's passphrase with scrypt; only the salt and KDF
  parameters are on disk, so a stolen disk is unreadable. After a restart the box stays sealed until
  the passphrase is given again.

The unsealed key is shared through the runtime directory (tmpfs) with the API's sibling workers, the engine
and the backup, bound to the API server that was given the passphrase (`appliance serve`, Granian's main
process): it is accepted only while that very process runs. A key left behind by a server that has stopped,
crashed or been killed is wiped by whoever finds it, so a restarted API or engine starts sealed. (An engine
that opened the store while the key was valid keeps its open store.)
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import msgspec
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from appliance.store.data_dir import DataDirectory, write_private_file

KEY_BYTES = 32
# scrypt cost: ~0.1 s and 32 MiB on a small box; stored with the salt so it can be raised later.
SCRYPT_N = 2**15
SCRYPT_R = 8
SCRYPT_P = 1
# Set by `appliance serve` for its workers: the pid of the server process the unsealed key belongs to.
SERVER_PID_ENV = "NETSENX_SERVER_PID"


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


class KeyHolder(msgspec.Struct, frozen=True):
    """A process, named so that a pid reused later (or after a reboot) is not mistaken for it."""

    boot_id: str
    pid: int
    started: int  # clock ticks after boot: field 22 of /proc/PID/stat

    @classmethod
    def of(cls, pid: int) -> KeyHolder | None:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            boot_id = Path("/proc/sys/kernel/random/boot_id").read_text().strip()
        except OSError:
            return None
        # The command name (field 2) may hold spaces and parentheses: count the fields after its last ")".
        return cls(boot_id=boot_id, pid=pid, started=int(stat.rpartition(")")[2].split()[19]))

    def is_running(self) -> bool:
        return KeyHolder.of(self.pid) == self


class UnsealedKey(msgspec.Struct, frozen=True):
    key: str  # hex
    holder: KeyHolder


def server_pid() -> int:
    """The API server this process belongs to: Granian's main process under `appliance serve`, else itself."""
    return int(os.environ.get(SERVER_PID_ENV) or os.getpid())


@contextlib.contextmanager
def unsealed_key_lock(data_dir: DataDirectory) -> Iterator[None]:
    """Serialises writing, reading and wiping the shared key, so a wipe of a stale key never hits a fresh one."""
    data_dir.runtime.mkdir(parents=True, exist_ok=True, mode=0o700)
    descriptor = os.open(data_dir.runtime, os.O_RDONLY | os.O_DIRECTORY)  # a lock on the directory: no extra file
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def load_key(data_dir: DataDirectory) -> bytes:
    """The key to open the database with, or SealedError if it must come from a passphrase first."""
    if key_mode(data_dir) == "key-file":
        return read_key_file(data_dir.key_file)
    key = unsealed_key(data_dir)
    if key is None:
        raise SealedError("the database is sealed: give the passphrase to unseal it")
    return key


def unsealed_key(data_dir: DataDirectory) -> bytes | None:
    """The key the running API server was unsealed with; None (and any key of a stopped server wiped)."""
    with unsealed_key_lock(data_dir):
        try:
            shared = msgspec.json.decode(data_dir.unsealed_key_file.read_bytes(), type=UnsealedKey)
        except FileNotFoundError:
            return None
        except msgspec.DecodeError:  # not ours, or the unbound format of earlier versions: never trusted
            shared = None
        if shared is None or not shared.holder.is_running():
            _wipe(data_dir.unsealed_key_file)
            return None
        return bytes.fromhex(shared.key)


def remember_unsealed_key(data_dir: DataDirectory, key: bytes, holder_pid: int | None = None) -> None:
    """Share the key with the sibling workers, the engine and the backup for as long as the server
    `holder_pid` (default: this process's server) runs."""
    holder = KeyHolder.of(server_pid() if holder_pid is None else holder_pid)
    if holder is None:
        raise RuntimeError("cannot identify the API server process in /proc")
    with unsealed_key_lock(data_dir):
        write_private_file(data_dir.unsealed_key_file, msgspec.json.encode(UnsealedKey(key.hex(), holder)))


def forget_unsealed_key(data_dir: DataDirectory) -> bool:
    """Seal the box for whatever starts next (processes with the store open keep it). True if a key was there."""
    with unsealed_key_lock(data_dir):
        return _wipe(data_dir.unsealed_key_file)


def _wipe(path: Path) -> bool:
    """Overwrite, then unlink: on tmpfs the overwrite replaces the key's bytes in RAM."""
    try:
        with open(path, "r+b", buffering=0) as file:
            file.write(bytes(os.fstat(file.fileno()).st_size))
    except FileNotFoundError:
        return False
    path.unlink(missing_ok=True)
    return True
