"""Live capture hands its frame batches to the packet store through this: a bounded queue and one writer thread,
so sealing and writing segments never hold up detection. When the writer falls behind (a slow or full disk) the
queue fills and further batches are dropped from the store, counted, while detection goes on with every packet."""

from __future__ import annotations

import queue
import threading

import msgspec

from sensor.packets.ring import PacketRing, RingStats
from sensor.pcap.batch import FrameBatch

QUEUED_BATCHES = 64  # TPACKET_V3 blocks (1 MiB each by default): a second or more of a busy link
IDLE_FLUSH_SECONDS = 1.0  # a quiet wire still gets its last packets sealed and readable


class PacketRecorder:
    def __init__(self, ring: PacketRing, queued_batches: int = QUEUED_BATCHES) -> None:
        self.ring = ring
        self._queue: queue.Queue[FrameBatch | None] = queue.Queue(maxsize=queued_batches)
        self._dropped = 0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="packet-store", daemon=True)
        self._thread.start()

    def offer(self, batch: FrameBatch) -> None:
        """Never blocks: a batch the queue has no room for is counted as dropped from the store."""
        try:
            self._queue.put_nowait(batch)
        except queue.Full:
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
