"""What a capture reader had to skip or stop at, tallied by kind.

A damaged file can hold millions of bad blocks: each kind of problem is one line (how many, where the first
was), and the packet records skipped are counted so the pipeline can count them as malformed packets.
"""

from __future__ import annotations


class ReadProblems:
    def __init__(self) -> None:
        self._kinds: dict[str, list[int]] = {}  # description -> [times seen, byte of the first]
        self.skipped_packets = 0  # complete packet records that could not be used

    def add(self, description: str, position: int) -> None:
        seen = self._kinds.setdefault(description, [0, position])
        seen[0] += 1

    def skip_packets(self, description: str, position: int, count: int = 1) -> None:
        """`count` packet records skipped, the first at `position`."""
        seen = self._kinds.setdefault(description, [0, position])
        seen[0] += count
        self.skipped_packets += count

    def lines(self) -> list[str]:
        return [
            f"{description} at byte {first}" if times == 1
            else f"{times} times {description}, the first at byte {first}"
            for description, (times, first) in self._kinds.items()
        ]
