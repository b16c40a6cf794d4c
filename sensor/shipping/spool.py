"""The sensor's durable, bounded outbox: every batch is written here (fsync'd) before it is sent.

One file per batch, named by its seq, so the directory itself is the queue and a restart finds exactly what
was not acknowledged yet. `state.json` remembers which sensor the spool belongs to, the next seq to hand
out and how many batches were dropped. A seq is never reused: while its file exists the file says so, and
before the file of a seq at or above the recorded next seq is removed (delivered or dropped), the state is
saved first. (A seq handed out but not yet written when the sensor crashed may come again: it never left.)

Bounded by bytes: when a new batch would push the spool over `max_bytes`, the OLDEST batches are dropped
and counted in `lost_batches` (a sensor cut off for days keeps its most recent traffic). That is the only
way a batch is ever lost.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

import msgspec

SUFFIX = ".batch"
DEFAULT_MAX_BYTES = 256 * 1024 * 1024


class SpoolError(Exception):
    """The spool directory cannot be used (another sensor's, unreadable state)."""


class SpoolState(msgspec.Struct):
    agent_id: str
    next_seq: int = 0
    lost_batches: int = 0


class Spool:
    def __init__(self, directory: Path, agent_id: str, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        self.directory = Path(directory)
        self.max_bytes = max_bytes
        self._lock = threading.Lock()
        self.directory.mkdir(parents=True, exist_ok=True)
        self._state_path = self.directory / "state.json"
        self._state = self._load_state(agent_id)
        self._saved_next_seq = self._state.next_seq
        for leftover in self.directory.glob("*.tmp"):  # a write cut short by a crash was never acknowledged
            leftover.unlink()
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
        """Give the next seq to `encode`, store what it returns durably, and return the seq."""
        with self._lock:
            seq = self._state.next_seq
            self._state.next_seq += 1
            payload = encode(seq)
            self._write(seq, payload)
            self._sizes[seq] = len(payload)
            self._drop_oldest_over_cap()
            return seq

    def continue_from(self, seq: int) -> None:
        """Never hand out a seq below `seq` (the appliance has seen those already)."""
        with self._lock:
            if seq > self._state.next_seq:
                self._state.next_seq = seq
                self._save_state()

    def oldest(self) -> tuple[int, bytes] | None:
        with self._lock:
            if not self._sizes:
                return None
            seq = min(self._sizes)
            return seq, self._path(seq).read_bytes()

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

    def _write(self, seq: int, payload: bytes) -> None:
        temporary = self.directory / f"{seq:020d}.tmp"
        write_durably(temporary, payload)
        os.replace(temporary, self._path(seq))
        sync_directory(self.directory)

    def _load_state(self, agent_id: str) -> SpoolState:
        if not self._state_path.exists():
            state = SpoolState(agent_id=agent_id)
            write_durably(self._state_path, msgspec.json.encode(state))  # claims the directory for this sensor
            return state
        try:
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
    with open(path, "wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def sync_directory(directory: Path) -> None:
    """Make a rename in `directory` survive a power cut."""
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
