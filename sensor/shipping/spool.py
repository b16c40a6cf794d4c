"""The sensor's durable, bounded outbox: every batch is written here (fsync'd) before it is sent.

One file per batch, named by its seq, so the directory itself is the queue and a restart finds exactly what
was not acknowledged yet. `state.json` remembers which sensor the spool belongs to, the next seq to hand
out and how many batches were dropped. A seq is never reused: while its file exists the file says so, and
before the file of a seq at or above the recorded next seq is removed (delivered or dropped), the state is
saved first. (A seq handed out but not yet written when the sensor crashed may come again: it never left.)

Bounded by bytes: when a new batch would push the spool over `max_bytes`, the OLDEST batches are dropped
and counted in `lost_batches` (a sensor cut off for days keeps its most recent traffic). Besides that, a
batch file that does not decrypt (corrupted, or sealed under another key) is set aside as `.unreadable` and
counted there too, instead of blocking the queue.

Encrypted at rest (`spool_cipher`): every file is mode 0600, every batch sealed with the sensor's own key.
A spool written by an earlier, plaintext version is sealed in place when it is opened.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path

import msgspec

from sensor.shipping.spool_cipher import (
    KEY_FILE_NAME,
    MAGIC,
    SpoolCipher,
    SpoolKeyError,
    UnreadableBatch,
    create_key_file,
    is_sealed,
    read_key_file,
)

log = logging.getLogger("sensor.shipping")

SUFFIX = ".batch"
UNREADABLE_SUFFIX = ".unreadable"
DEFAULT_MAX_BYTES = 256 * 1024 * 1024


class SpoolError(Exception):
    """The spool directory cannot be used (another sensor's, unreadable state, unusable key)."""


class SpoolState(msgspec.Struct):
    agent_id: str
    next_seq: int = 0
    lost_batches: int = 0


class Spool:
    def __init__(
        self, directory: Path, agent_id: str, max_bytes: int = DEFAULT_MAX_BYTES, key_file: Path | None = None
    ) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._state_path = self.directory / "state.json"
        self._state = self._load_state(agent_id)
        self._saved_next_seq = self._state.next_seq
        for leftover in self.directory.glob("*.tmp"):  # a write cut short by a crash was never acknowledged
            leftover.unlink()
        self.key_file = Path(key_file) if key_file else self.directory / KEY_FILE_NAME
        self._cipher = SpoolCipher(self._key(), agent_id)
        self._seal_plaintext_batches()
        self._sizes = {int(path.stem): path.stat().st_size for path in self.directory.glob(f"*{SUFFIX}")}
        if self._sizes:
            self._state.next_seq = max(self._state.next_seq, max(self._sizes) + 1)

    @property
    def lost_batches(self) -> int:
        return self._state.lost_batches

    @property
    def next_seq(self) -> int:
        return self._state.next_seq

    def __len__(self) -> int:
        with self._lock:
            return len(self._sizes)

    def pending_bytes(self) -> int:
        with self._lock:
            return sum(self._sizes.values())

    def append(self, encode: Callable[[int], bytes]) -> int:
        """Give the next seq to `encode`, store what it returns durably (encrypted), and return the seq."""
        with self._lock:
            seq = self._state.next_seq
            self._state.next_seq += 1
            sealed = self._cipher.seal(seq, encode(seq))
            self._write(seq, sealed)
            self._sizes[seq] = len(sealed)
            self._drop_oldest_over_cap()
            return seq

    def continue_from(self, seq: int) -> None:
        """Never hand out a seq below `seq` (the appliance has seen those already)."""
        with self._lock:
            if seq > self._state.next_seq:
                self._state.next_seq = seq
                self._save_state()

    def oldest(self) -> tuple[int, bytes] | None:
        """The oldest batch waiting, decrypted. One that does not decrypt is set aside and counted as lost."""
        with self._lock:
            while self._sizes:
                seq = min(self._sizes)
                try:
                    return seq, self._cipher.open(seq, self._path(seq).read_bytes())
                except UnreadableBatch as error:
                    log.error("spool batch %d cannot be read (%s): set aside as %s", seq, error, UNREADABLE_SUFFIX)
                    self._state.lost_batches += 1
                    self._save_state()
                    os.replace(self._path(seq), self._path(seq).with_suffix(UNREADABLE_SUFFIX))
                    del self._sizes[seq]
            return None

    def remove(self, seq: int) -> None:
        """The appliance acknowledged `seq` (stored or already there)."""
        with self._lock:
            if seq in self._sizes:
                self._forget(seq)

    def _forget(self, seq: int) -> None:
        if seq >= self._saved_next_seq:
            self._save_state()  # the file that proves `seq` was used is about to go
        del self._sizes[seq]
        self._path(seq).unlink(missing_ok=True)

    def _drop_oldest_over_cap(self) -> None:
        total = sum(self._sizes.values())
        while total > self.max_bytes and len(self._sizes) > 1:
            oldest = min(self._sizes)
            total -= self._sizes[oldest]
            self._state.lost_batches += 1
            self._save_state()
            self._forget(oldest)

    def _path(self, seq: int) -> Path:
        return self.directory / f"{seq:020d}{SUFFIX}"

    def _write(self, seq: int, sealed: bytes) -> None:
        temporary = self.directory / f"{seq:020d}.tmp"
        write_durably(temporary, sealed)
        os.replace(temporary, self._path(seq))
        sync_directory(self.directory)

    def _key(self) -> bytes:
        """The sensor's spool key; created on first use, but never while sealed batches wait for the old one."""
        try:
            if self.key_file.exists():
                return read_key_file(self.key_file)
            waiting = [path for path in self.directory.glob(f"*{SUFFIX}") if starts_with_magic(path)]
            if waiting:
                raise SpoolKeyError(
                    f"the spool {self.directory} holds {len(waiting)} encrypted batches but its key file "
                    f"{self.key_file} is missing: restore the key file, or move the *{SUFFIX} files away"
                )
            key = create_key_file(self.key_file)
        except (SpoolKeyError, OSError) as error:
            raise SpoolError(str(error)) from error
        sync_directory(self.key_file.parent)
        return key

    def _seal_plaintext_batches(self) -> None:
        """Batches spooled by a version that wrote plaintext: read once, written back sealed (mode 0600)."""
        plaintext = sorted(path for path in self.directory.glob(f"*{SUFFIX}") if not starts_with_magic(path))
        for path in plaintext:
            seq = int(path.stem)
            self._write(seq, self._cipher.seal(seq, path.read_bytes()))
        if plaintext:
            log.warning("sealed %d plaintext batches left by an earlier sensor version", len(plaintext))

    def _load_state(self, agent_id: str) -> SpoolState:
        if not self._state_path.exists():
            state = SpoolState(agent_id=agent_id)
            write_durably(self._state_path, msgspec.json.encode(state))  # claims the directory for this sensor
            return state
        try:
            os.chmod(self._state_path, 0o600)  # earlier versions left it readable by everyone
            state = msgspec.json.decode(self._state_path.read_bytes(), type=SpoolState)
        except (OSError, msgspec.DecodeError) as error:
            raise SpoolError(f"unreadable spool state {self._state_path}: {error}") from error
        if state.agent_id != agent_id:
            raise SpoolError(
                f"spool directory {self.directory} belongs to sensor {state.agent_id!r}, not {agent_id!r}: "
                "give each sensor its own --spool-dir"
            )
        return state

    def _save_state(self) -> None:
        temporary = self._state_path.with_suffix(".json.tmp")
        write_durably(temporary, msgspec.json.encode(self._state))
        os.replace(temporary, self._state_path)
        self._saved_next_seq = self._state.next_seq


def write_durably(path: Path, data: bytes) -> None:
    """Write and fsync, readable by the sensor's user only (the mode applies to a new file)."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with open(descriptor, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def starts_with_magic(path: Path) -> bool:
    with open(path, "rb") as file:
        return is_sealed(file.read(len(MAGIC)))


def sync_directory(directory: Path) -> None:
    """Make a rename in `directory` survive a power cut."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
