"""Per-key state for rules that cannot grow without limit on a busy network.

Every table a rule keeps is a `BoundedMap` (least recently touched key goes first when full) holding
`Window`s (packet-time windows) whose member sets are `CappedSet`s. So a rule's memory is bounded by
max_tracked_keys x set cap, whatever the traffic.
"""

from __future__ import annotations

from collections import OrderedDict, deque
from typing import Callable, Generic, Hashable, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class BoundedMap(OrderedDict, Generic[K, V]):
    """An LRU map. Touch order follows packet time, so the stalest keys are at the front."""

    def __init__(self, cap: int):
        super().__init__()
        self.cap = cap

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


class CappedSet:
    """Distinct members up to `cap`; beyond it new members are counted (an estimate) but not stored."""

    __slots__ = ("members", "cap", "overflow")

    def __init__(self, cap: int):
        self.members: set = set()
        self.cap = cap
        self.overflow = 0

    def add(self, member: Hashable) -> bool:
        """True when `member` is new (or may be: after the cap every unknown member counts as new)."""
        if member in self.members:
            return False
        if len(self.members) < self.cap:
            self.members.add(member)
        else:
            self.overflow += 1
        return True

    def __len__(self) -> int:
        return len(self.members) + self.overflow

    def sample(self, n: int = 20) -> list:
        return sorted(self.members, key=str)[:n]


class PortSet:
    """Distinct ports 0..65535, exactly, in at most 8 KiB: a bitmask in one int."""

    __slots__ = ("mask", "count")

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
        ports, mask, port = [], self.mask, 0
        while mask and len(ports) < n:
            if mask & 1:
                ports.append(port)
            mask >>= 1
            port += 1
        return ports


class Window:
    """A packet-time window on one key: it starts with the first record and, while no incident is open,
    restarts once `length` has passed (Zeek SumStats epochs). While an incident is open it keeps counting
    until the key has been idle for `length`, so a long attack stays one growing incident."""

    __slots__ = ("start", "last", "alerting", "flow_uids")

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


def window_for(table: BoundedMap, key: Hashable, ts: float, length: float, factory: Callable[[float], W]) -> W:
    """The live window of `key` at `ts`, starting a fresh one when the old one has expired."""
    window = table.get_or_add(key, lambda: factory(ts))
    if window.expired(ts, length):
        window = table[key] = factory(ts)
    return window


class RecentTimes:
    """Times of the last events within `span` seconds: a sliding-window rate (e.g. hosts first seen in 5 s)."""

    __slots__ = ("times", "span")

    def __init__(self, span: float, cap: int):
        self.times: deque[float] = deque(maxlen=cap)
        self.span = span

    def add(self, ts: float) -> int:
        """Record one event and return how many fall within `span` of it."""
        self.times.append(ts)
        while self.times and self.times[0] < ts - self.span:
            self.times.popleft()
        return len(self.times)

