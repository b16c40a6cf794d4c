"""Decoded packets as columns: what the flow table needs from each IP packet, one numpy array per field."""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

# The fields a decoder fills for each packet that belongs to a flow, in the order the per-packet decoder
# returns them.
DECODED_FIELDS = (
    "src_hi",  # addresses as two 64-bit halves; IPv4 is mapped to ::ffff:a.b.c.d
    "src_lo",
    "dst_hi",
    "dst_lo",
    "sport",  # for ICMP: the message type
    "dport",  # for ICMP: the counterpart type (echo request <-> reply) or the code
    "proto",
    "v6",
    "vlan",  # outermost 802.1Q/802.1ad id, 0 if untagged
    "iplen",  # IP bytes as the header declares them (header included)
    "paylen",  # transport payload bytes as declared
    "flags",  # TCP flag byte
    "icmp_code",
    "smac_off",  # where the source / destination MAC sits in the batch buffer, -1 when the link has none
    "dmac_off",
    "pay_off",  # where the captured payload starts in the batch buffer
    "pay_cap",  # how much of the payload was captured
    "seq",  # TCP sequence number of a segment that carries payload (0 for other packets)
)


@dataclass(slots=True)
class PacketColumns:
    buffer: bytes | memoryview
    index: np.ndarray  # position of the packet in its frame batch (packet order)
    ts: np.ndarray
    src_hi: np.ndarray
    src_lo: np.ndarray
    dst_hi: np.ndarray
    dst_lo: np.ndarray
    sport: np.ndarray
    dport: np.ndarray
    proto: np.ndarray
    v6: np.ndarray
    vlan: np.ndarray
    iplen: np.ndarray
    paylen: np.ndarray
    flags: np.ndarray
    icmp_code: np.ndarray
    smac_off: np.ndarray
    dmac_off: np.ndarray
    pay_off: np.ndarray
    pay_cap: np.ndarray
    seq: np.ndarray

    def __len__(self) -> int:
        return len(self.index)

    def take(self, selector: np.ndarray) -> PacketColumns:
        """The packets picked by a boolean mask or an index array, keeping their order."""
        return PacketColumns(
            self.buffer, *(getattr(self, f.name)[selector] for f in fields(self) if f.name != "buffer")
        )

    @classmethod
    def concatenate(cls, buffer: bytes | memoryview, parts: list[PacketColumns]) -> PacketColumns:
        names = [f.name for f in fields(cls) if f.name != "buffer"]
        return cls(buffer, *(np.concatenate([getattr(p, name) for p in parts]) for name in names))

    @classmethod
    def from_rows(cls, buffer: bytes | memoryview, index: list[int], ts: np.ndarray,
                  rows: list[tuple]) -> PacketColumns:
        """Columns from the per-packet decoder's tuples (one tuple of DECODED_FIELDS per packet)."""
        if rows:
            table = np.array(rows, dtype=object).T
            columns = [table[i].astype(np.uint64 if name.endswith(("_hi", "_lo")) else np.int64)
                       for i, name in enumerate(DECODED_FIELDS)]
        else:
            columns = [np.zeros(0, dtype=np.uint64 if name.endswith(("_hi", "_lo")) else np.int64)
                       for name in DECODED_FIELDS]
        values = dict(zip(DECODED_FIELDS, columns, strict=True))
        values["v6"] = values["v6"].astype(bool)
        return cls(buffer, np.array(index, dtype=np.int64), ts, **values)
