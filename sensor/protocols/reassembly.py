"""Cutting a TCP byte stream into length-prefixed messages that may span or share segments.

Only what the protocols here need: a message starts at the beginning of a segment (TLS records,
DNS-over-TCP, Kerberos-over-TCP), following segments arrive in order, and the tail of a segment that
starts the next message is carried over. Bytes that do not start a message are dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

from sensor.protocols.flow_state import BoundedFlowState

# (data, offset) -> total length of the message starting at offset, a lower bound when its header is
# still incomplete, or None when no such message starts there.
MessageLength = Callable[[bytes, int], "int | None"]

MAX_MESSAGES_PER_SEGMENT = 32


class SegmentedMessages:
    def __init__(self, message_length: MessageLength, max_message: int = 65536, max_pending: int = 512):
        self._message_length = message_length
        self._max_message = max_message
        self._pending: BoundedFlowState[bytes] = BoundedFlowState(max_pending)

    def waiting(self, key: Hashable) -> bool:
        """Whether a message of `key` is incomplete: the next segment continues it."""
        return self._pending.get(key) is not None

    def feed(self, key: Hashable, payload: bytes) -> list[bytes]:
        """The whole messages (headers included) this segment completes, in order."""
        earlier = self._pending.pop(key)
        data = earlier + payload if earlier else payload
        messages: list[bytes] = []
        start = 0
        while start < len(data) and len(messages) < MAX_MESSAGES_PER_SEGMENT:
            need = self._message_length(data, start)
            if need is None or need > self._max_message:
                break
            if start + need > len(data):
                self._pending.put(key, data[start:])
                break
            messages.append(data[start : start + need])
            start += need
        return messages
