"""Per-key state for rules that cannot grow without limit on a busy network.

Every table a rule keeps is a `BoundedMap` (least recently touched key goes first when full), most of them
`Windows`: packet-time windows of one kind and length, whose member sets are `CappedSet`s. So a rule's
memory is bounded by max_tracked_keys x (set cap + sketch), whatever the traffic.
"""

from __future__ import annotations

import hashlib
import math
from collections import OrderedDict, deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

SKETCH_BITS = 4096
K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedMap(OrderedDict, Generic[K, V]):
    """An LRU map. Touch order follows packet time, so the stalest keys are at the front."""

    def __init__(self, cap: int):
        super().__init__()
        self.cap = cap

    def __reduce__(self):
        # OrderedDict's own would call BoundedMap() without its cap; the items keep their LRU order
        return type(self), (self.cap,), None, None, iter(self.items())

    def get_or_add(self, key: K, factory: Callable[[], V]) -> V:
        value = self.get(key)
        if value is None:
            value = self[key] = factory()
            if len(self) > self.cap:
                self.popitem(last=False)
        else:
            self.move_to_end(key)
        return value

    def drop_stale(self, is_stale: Callable[[V], bool]) -> None:
        """Remove stale entries from the front; stops at the first fresh one (the rest were touched later)."""
        while self:
            key, value = next(iter(self.items()))
            if not is_stale(value):
                return
            del self[key]


def _stable_hash(member: Hashable) -> int:
    """The same in every run (unlike hash()) and well mixed (CRC32 of similar strings is not: sequential
    addresses rarely collide, so linear counting would overestimate them)."""
    return int.from_bytes(hashlib.blake2b(str(member).encode(), digest_size=4).digest(), "little")


class CappedSet:
    """Distinct members: the first `cap` exactly (for counts near thresholds and for samples), all of them
    approximately through a 4096-bit linear-counting sketch (Whang et al. 1990; within ~2% up to ~10,000
    members). So every set costs at most `cap` members + 512 bytes, however many hosts a sweep touches. The
    sketch is only kept from the moment the set is full (it then takes the members' bits): most sets never
    fill, and their state (memory, checkpoints) holds no 512-byte integer and costs no hashing."""

    __slots__ = ("_sketch", "_zero_bits", "cap", "members")

    def __init__(self, cap: int = 32):
        self.members: set = set()
        self.cap = cap
        self._sketch = 0
        self._zero_bits = SKETCH_BITS

    def add(self, member: Hashable) -> bool:
        """True when `member` is new (beyond the cap: when its sketch bit was still clear)."""
        if member in self.members:
            return False
        if len(self.members) < self.cap:
            self.members.add(member)
            if len(self.members) == self.cap:
                for known in self.members:
                    self._mark(known)
            return True
        return self._mark(member)

    def _mark(self, member: Hashable) -> bool:
        """Sets `member`'s sketch bit; True when it was clear."""
        bit = 1 << (_stable_hash(member) % SKETCH_BITS)
        if self._sketch & bit:
            return False
        self._sketch |= bit
        self._zero_bits -= 1
        return True

    def __len__(self) -> int:
        if len(self.members) < self.cap:
            return len(self.members)
        estimate = SKETCH_BITS * math.log(SKETCH_BITS / max(self._zero_bits, 1))
        return max(len(self.members), round(estimate))

    def __contains__(self, member: Hashable) -> bool:
        return member in self.members

    def sample(self, n: int = 20) -> list:
        return sorted(self.members, key=str)[:n]


class PortSet:
    """Distinct ports 0..65535, exactly, in at most 8 KiB: a bitmask in one int."""

    __slots__ = ("count", "mask")

    def __init__(self) -> None:
        self.mask = 0
        self.count = 0

    def add(self, port: int) -> bool:
        bit = 1 << (port & 0xFFFF)
        if self.mask & bit:
            return False
        self.mask |= bit
        self.count += 1
        return True

    def __len__(self) -> int:
        return self.count

    def sample(self, n: int = 20) -> list[int]:
        """The lowest `n` ports, taking one set bit at a time (never walking all 65,536)."""
        ports, mask = [], self.mask
        while mask and len(ports) < n:
            lowest = mask & -mask
            ports.append(lowest.bit_length() - 1)
            mask ^= lowest
        return ports


class Window:
    """A packet-time window on one key: it starts with the first record and, while no incident is open,
    restarts once `length` has passed (Zeek SumStats epochs). While an incident is open it keeps counting
    until the key has been idle for `length`, so a long attack stays one growing incident."""

    __slots__ = ("alerting", "flow_uids", "last", "start")

    def __init__(self, ts: float):
        self.start = ts
        self.last = ts
        self.alerting = False
        self.flow_uids: list[str] = []

    def expired(self, ts: float, length: float) -> bool:
        if self.alerting:
            return ts - self.last > length
        return ts - self.start > length

    def note(self, ts: float, flow_uid: str = "", keep_uids: int = 20) -> None:
        self.last = max(self.last, ts)
        if flow_uid and len(self.flow_uids) < keep_uids:
            self.flow_uids.append(flow_uid)


W = TypeVar("W", bound=Window)


def window_for(
    table: BoundedMap, key: Hashable, ts: float, length: float, factory: Callable[[float], W]
) -> W:
    """The live window of `key` at `ts`, starting a fresh one when the old one has expired."""
    window = table.get_or_add(key, lambda: factory(ts))
    if window.expired(ts, length):
        window = table[key] = factory(ts)
    return window


class Windows(BoundedMap, Generic[K, W]):
    """A rule's table of one kind of Window, one per key, all of one length: `at(key, ts)` is the key's live
    window, and the rule's `advance` drops the expired ones (Rule.advance does it for every such table)."""

    def __init__(self, cap: int, length: float, kind: Callable[..., W], *arguments):
        super().__init__(cap)
        self.length = length
        self.kind = kind  # a Window class (state holds data, never a function), called (ts, *arguments)
        self.arguments = arguments

    def __reduce__(self):
        return type(self), (self.cap, self.length, self.kind, *self.arguments), None, None, iter(self.items())

    def at(self, key: K, ts: float) -> W:
        return window_for(self, key, ts, self.length, self._new)

    def _new(self, ts: float) -> W:
        return self.kind(ts, *self.arguments)

    def expire(self, now: float) -> None:
        self.drop_stale(lambda window: window.expired(now, self.length))


class RecentTimes:
    """Times of the last events within `span` seconds: a sliding-window rate (e.g. hosts first seen in 5 s)."""

    __slots__ = ("span", "times")

    def __init__(self, span: float, cap: int):
        self.times: deque[float] = deque(maxlen=cap)
        self.span = span

    def add(self, ts: float) -> int:
        """Record one event and return how many fall within `span` of it."""
        self.times.append(ts)
        while self.times and self.times[0] < ts - self.span:
            self.times.popleft()
        return len(self.times)
