"""The originator's bursts: when it talks within one flow, updated a batch at a time with numpy.

A C2 implant inside one long-lived connection (HTTP/2, WebSocket, QUIC) shows no new flows, only a regular
rhythm of requests within the one flow. A burst starts when the originator sends payload after at least
BURST_GAP_S seconds without sending any; its size is the originator's payload bytes until the next start.

BURST_GAP_S is half a second. The packets of one exchange follow each other within a round trip (ACK-clocked
segments of one request, a reply to the server's answer), and round trips above 300 ms are rare even across
continents, so a longer silence means the originator had nothing to say. Implants in interactive mode call
home every 1-5 s (Metasploit, Merlin, Sliver, Cobalt Strike with sleep 0-5); at a 1 s period the silence
between two calls is a little under 1 s, so a 1 s threshold would merge them into one endless burst.
"""

from __future__ import annotations

import numpy as np

BURST_GAP_S = 0.5
KEPT = 32  # gaps and sizes kept per flow (the last ones)
MIN_BURSTS_FOR_LISTS = 4  # flows with fewer bursts ship only the count


class BurstColumns:
    """Per-slot burst state (grown with the flow table's slots) and the rings of the last KEPT gaps and sizes,
    which only flows with a second burst get (a row of a pool that grows by doubling)."""

    def __init__(self, capacity: int, rows: int = 1024) -> None:
        self.last_payload = np.full(capacity, np.nan)  # time of the originator's last payload packet
        self.count = np.zeros(capacity, dtype=np.int64)
        self.start = np.full(capacity, np.nan)  # time the open (last) burst started
        self.open_bytes = np.zeros(capacity, dtype=np.int64)
        self.row = np.full(capacity, -1, dtype=np.int64)
        self.gaps = np.zeros((rows, KEPT))
        self.sizes = np.zeros((rows, KEPT), dtype=np.int64)
        self._free = list(range(rows - 1, -1, -1))

    def grow(self, capacity: int) -> None:
        extra = capacity - len(self.count)
        self.last_payload = np.append(self.last_payload, np.full(extra, np.nan))
        self.count = np.append(self.count, np.zeros(extra, dtype=np.int64))
        self.start = np.append(self.start, np.full(extra, np.nan))
        self.open_bytes = np.append(self.open_bytes, np.zeros(extra, dtype=np.int64))
        self.row = np.append(self.row, np.full(extra, -1, dtype=np.int64))

    def reset(self, slots: np.ndarray) -> None:
        self.last_payload[slots] = np.nan
        self.count[slots] = 0
        self.start[slots] = np.nan
        self.open_bytes[slots] = 0
        self.release(slots)

    def release(self, slots: np.ndarray) -> None:
        rows = self.row[slots]
        rows = rows[rows >= 0]
        if len(rows):
            self._free.extend(rows.tolist())
            self.row[slots] = -1

    def add(self, slot: np.ndarray, ts: np.ndarray, size: np.ndarray) -> None:
        """The originator's payload packets of a batch: `slot`, `ts`, `size` per packet, each slot's packets
        together and in time order."""
        if not len(slot):
            return
        first = np.empty(len(slot), dtype=bool)
        first[0] = True
        first[1:] = slot[1:] != slot[:-1]
        prev = np.empty(len(ts))
        prev[1:] = ts[:-1]
        prev[first] = self.last_payload[slot[first]]
        starts = ~(ts - prev < BURST_GAP_S)  # no earlier payload (nan) starts a burst too
        runs = np.flatnonzero(first)
        lengths = np.diff(np.append(runs, len(slot)))
        run_slot = slot[runs]
        new = np.add.reduceat(starts.astype(np.int64), runs)
        before = self.count[run_slot]
        total = before + new
        # ordinal (from 0) of the burst each packet belongs to
        started = np.cumsum(starts)
        ordinal = np.repeat(before, lengths) + started - np.repeat(started[runs] - starts[runs], lengths) - 1
        self._allocate(run_slot[(total >= 2) & (self.row[run_slot] < 0)])
        self._record_gaps(slot, ts, starts, ordinal, np.repeat(total, lengths))
        self._record_sizes(slot, size, starts, ordinal, first, np.repeat(total, lengths))
        self.count[run_slot] = total
        self.last_payload[run_slot] = ts[np.append(runs[1:], len(slot)) - 1]

    def _record_gaps(self, slot, ts, starts, ordinal, total) -> None:
        at = np.flatnonzero(starts)
        if not len(at):
            return
        start_slot = slot[at]
        first_start = np.empty(len(at), dtype=bool)
        first_start[0] = True
        first_start[1:] = start_slot[1:] != start_slot[:-1]
        previous = np.empty(len(at))
        previous[1:] = ts[at[:-1]]
        previous[first_start] = self.start[start_slot[first_start]]
        gap_index = ordinal[at] - 1  # the gap before burst k is gap k-1
        keep = (gap_index >= 0) & (gap_index >= total[at] - 1 - KEPT)
        rows = self.row[start_slot[keep]]
        self.gaps[rows, gap_index[keep] % KEPT] = (ts[at] - previous)[keep]
        last_of_slot = np.append(first_start[1:], True)
        self.start[start_slot[last_of_slot]] = ts[at[last_of_slot]]

    def _record_sizes(self, slot, size, starts, ordinal, first, total) -> None:
        # a flow whose batch begins with a new burst closes the burst left open by the previous batch
        closing = np.flatnonzero(first & starts & (ordinal >= 1) & (ordinal - 1 >= total - KEPT))
        closing_slot = slot[closing]
        self.sizes[self.row[closing_slot], (ordinal[closing] - 1) % KEPT] = self.open_bytes[closing_slot]
        bounds = np.flatnonzero(first | starts)
        part_bytes = np.add.reduceat(size, bounds)
        part_slot = slot[bounds]
        continues = ~starts[bounds]  # the batch's first packets of a slot may extend the open burst
        part_bytes = part_bytes + np.where(continues, self.open_bytes[part_slot], 0)
        last = np.append(part_slot[1:] != part_slot[:-1], True)
        done = ~last & (ordinal[bounds] >= total[bounds] - KEPT)
        rows = self.row[part_slot[done]]
        self.sizes[rows, ordinal[bounds][done] % KEPT] = part_bytes[done]
        self.open_bytes[part_slot[last]] = part_bytes[last]

    def _allocate(self, slots: np.ndarray) -> None:
        if not len(slots):
            return
        if len(slots) > len(self._free):
            old = len(self.gaps)
            rows = max(2 * old, old + len(slots))
            self.gaps = np.concatenate([self.gaps, np.zeros((rows - old, KEPT))])
            self.sizes = np.concatenate([self.sizes, np.zeros((rows - old, KEPT), dtype=np.int64)])
            self._free.extend(range(rows - 1, old - 1, -1))
        self.row[slots] = [self._free.pop() for _ in range(len(slots))]

    def lists(self, slot: int) -> tuple[list[float], list[int]]:
        """The last gaps (seconds, rounded to the microsecond of the packet times) and burst sizes, oldest first."""
        count, row = int(self.count[slot]), int(self.row[slot])
        gap_positions = [k % KEPT for k in range(max(0, count - 1 - KEPT), count - 1)]
        size_positions = [k % KEPT for k in range(max(0, count - KEPT), count - 1)]
        gaps = np.round(self.gaps[row, gap_positions], 6).tolist()
        sizes = [*self.sizes[row, size_positions].tolist(), int(self.open_bytes[slot])]
        return gaps, sizes
