"""Per-flow memory with a hard cap, so a flood of flows cannot grow the sensor without bound."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class BoundedFlowState(Generic[V]):
    """A least-recently-used map: past `capacity` entries the stalest one is forgotten."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._items: OrderedDict[Hashable, V] = OrderedDict()

    def get(self, key: Hashable) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: Hashable, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        if len(self._items) > self._capacity:
            self._items.popitem(last=False)

    def pop(self, key: Hashable) -> V | None:
        return self._items.pop(key, None) if self._items else None

    def __len__(self) -> int:
        return len(self._items)
