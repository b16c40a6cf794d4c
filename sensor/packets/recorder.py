"""Live capture hands its frame batches to the packet store through this: a bounded queue and one writer thread,
so sealing and writing segments never hold up detection. When the writer falls behind (a slow or full disk) the
queue fills and further batches are dropped from the store, counted, while detection goes on with every packet."""

from __future__ import annotations

import queue
import threading

import msgspec

from sensor.packets.ring import PacketRing, RingStats
from sensor.pcap.batch import FrameBatch

# Frame bytes waiting for the writer: a second or more of a busy link. Counted in bytes, not batches, since live
# capture hands over one 1 MiB ring block per batch while it keeps up, but several at once when behind.
QUEUED_BYTES = 64 << 20
IDLE_FLUSH_SECONDS = 1.0  # a quiet wire still gets its last packets sealed and readable


class PacketRecorder:
    def __init__(self, ring: PacketRing, queued_bytes: int = QUEUED_BYTES) -> None:
        self.ring = ring
        self._queue: queue.Queue[FrameBatch | None] = queue.Queue()
        self._room = queued_bytes  # bytes the queue may still take
        self._dropped = 0
        self._lock = threading.Lock()
        self._room_lock = threading.Lock()  # apart from _lock, which the writer holds while it writes
        self._thread = threading.Thread(target=self._run, name="packet-store", daemon=True)
        self._thread.start()

    def offer(self, batch: FrameBatch) -> None:
        """Never blocks: a batch the queue has no room for is counted as dropped from the store."""
        with self._room_lock:
            fits = len(batch.buffer) <= self._room
            if fits:
                self._room -= len(batch.buffer)
        if fits:
            self._queue.put_nowait(batch)
        else:
            with self._lock:
                self._dropped += len(batch)

    @property
    def stats(self) -> RingStats:
        with self._lock:
            return msgspec.structs.replace(self.ring.stats,
                                           packets_dropped=self.ring.stats.packets_dropped + self._dropped)

    def close(self) -> RingStats:
        """Write what is queued, seal the open segment, stop."""
        self._queue.put(None)
        self._thread.join()
        return self.stats

    def _run(self) -> None:
        while True:
            try:
                batch = self._queue.get(timeout=IDLE_FLUSH_SECONDS)
            except queue.Empty:
                with self._lock:
                    self.ring.flush()
                continue
            with self._lock:
                if batch is None:
                    self.ring.close()
                    return
                self.ring.append(batch)
            with self._room_lock:
                self._room += len(batch.buffer)
