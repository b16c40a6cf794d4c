"""The bidirectional flow table, updated a batch of packets at a time.

Flows live in numpy columns indexed by a slot number; a dict maps each flow key to its slot. A batch of
packets is grouped by key (argsort of a 64-bit key hash, checked against the full key), each group's
statistics are reduced with ufunc.reduceat, and the result is merged into the table with one fancy-indexed
operation per column. Python touches each flow once per batch (the dict lookup), never each packet.

Semantics are those of handling packets one at a time, in order: a packet whose flow has been quiet for
longer than its timeout (idle timeout by protocol, or the short close delay once the TCP flow is closed)
ends that flow and starts a new one; so does a packet arriving when the flow is older than the active
timeout. Where the order of closes and gaps matters inside one batch, a flow's packets from that point on
wait for the next round, in which they are the first packets and those rules apply exactly.
"""

from __future__ import annotations

import gc
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NamedTuple

import numpy as np

from sensor.decode import layers as L
from sensor.decode.columns import PacketColumns
from sensor.flows import tcp_state as T
from sensor.flows.bursts import MIN_BURSTS_FOR_LISTS, BurstColumns
from sensor.flows.timeouts import DEFAULT_TIMEOUTS, FlowTimeouts
from sensor.records import CaptureStats, Flow

FIRST_PAYLOADS = 8
_SEQUENCE_MASK = 0xFFFFFFFF
INITIAL_SLOTS = 65536
_KEY = np.dtype((np.void, 40))  # five uint64: a_hi, a_lo, b_hi, b_lo, ports/proto/vlan/family
# Per-slot counters, summed packet by packet (order of the reduction matrix rows).
COUNTERS = ("pkts_orig", "pkts_resp", "bytes_orig", "bytes_resp", "payload_orig", "payload_resp",
            "syn", "synack", "fin", "rst", "psh", "ack_only", "urg")
END_REASONS = ("idle", "fin", "rst", "active", "evicted", "end")
IDLE, FIN, RST, ACTIVE, EVICTED, END = range(len(END_REASONS))

Interest = Callable[[str, int, int], bool]


class Hooked(NamedTuple):
    """The payload packets of flows the metadata extractor watches, as `ingest` hands them over."""

    positions: np.ndarray  # in the batch's packets
    uids: np.ndarray
    slots: np.ndarray  # where each packet's flow lives, for `annotate` and `unwatch`
    from_orig: np.ndarray  # the packet came from the flow's originator


_NOTHING_HOOKED = Hooked(*(np.zeros(0, dtype=np.int64) for _ in range(3)), np.zeros(0, dtype=bool))


_TEXT_COLUMNS = ("history", "service")


class _Slots:
    """Column storage for flows; grows by doubling."""

    def __init__(self, capacity: int) -> None:
        self.live = np.zeros(capacity, dtype=bool)
        self.key = np.empty(capacity, dtype=object)  # dict key bytes, to unregister the flow
        self.uid = np.zeros(capacity, dtype=np.int64)
        self.orig_is_a = np.zeros(capacity, dtype=bool)
        self.proto = np.zeros(capacity, dtype=np.int64)
        self.v6 = np.zeros(capacity, dtype=bool)
        self.vlan = np.zeros(capacity, dtype=np.int64)
        self.addr = np.zeros((capacity, 4), dtype=np.uint64)  # orig hi/lo, resp hi/lo
        self.ports = np.zeros((capacity, 2), dtype=np.int64)  # as the first packet shows them
        self.macs = np.full((capacity, 2), -1, dtype=np.int64)  # orig src / dst MAC, -1 unknown
        self.interested = np.zeros(capacity, dtype=bool)
        self.ts_start = np.zeros(capacity, dtype=np.float64)
        self.ts_last = np.zeros(capacity, dtype=np.float64)
        self.counters = np.zeros((capacity, len(COUNTERS)), dtype=np.int64)
        self.flags_orig = np.zeros(capacity, dtype=np.int64)
        self.letters = np.zeros(capacity, dtype=np.int64)
        self.history = np.full(capacity, "", dtype=object)
        self.iat = np.zeros((capacity, 4), dtype=np.float64)  # sum, sum of squares, min, max
        self.size_sq = np.zeros(capacity, dtype=np.float64)
        self.size_range = np.zeros((capacity, 2), dtype=np.int64)  # min, max
        self.first_payloads = np.zeros((capacity, FIRST_PAYLOADS), dtype=np.int64)
        self.first_payload_count = np.zeros(capacity, dtype=np.int64)
        self.macs_alt = np.full((capacity, 2), -1, dtype=np.int64)  # a second orig src / dst MAC pair
        self.has_macs_alt = np.zeros(capacity, dtype=bool)
        self.service = np.full(capacity, "", dtype=object)  # what the protocol extractors identified
        self.auth = np.zeros((capacity, 3), dtype=np.int64)  # login attempts, failures, successes
        # TCP sequence number where the last payload segment of each side (orig, resp) ended, -1: none yet
        self.last_segment_end = np.full((capacity, 2), -1, dtype=np.int64)

    def grow(self, capacity: int) -> None:
        for name, column in vars(self).items():
            extra = np.zeros((capacity - len(column), *column.shape[1:]), dtype=column.dtype)
            if column.dtype == object:
                extra[...] = "" if name in _TEXT_COLUMNS else None
            setattr(self, name, np.concatenate([column, extra]))

    def __len__(self) -> int:
        return len(self.live)


class FlowTable:
    def __init__(self, stats: CaptureStats, timeouts: FlowTimeouts = DEFAULT_TIMEOUTS,
                 max_flows: int = 1_000_000, interest: Interest | None = None) -> None:
        if max_flows < 1:
            raise ValueError("max_flows must be at least 1")
        self._stats = stats
        self._timeouts = timeouts
        self._idle = timeouts.idle_by_proto()
        self._max_flows = max_flows
        self._interest = interest
        self._s = _Slots(min(max_flows, INITIAL_SLOTS))
        self._index: dict[bytes, int] = {}
        self._free = np.arange(len(self._s))[::-1].copy()  # a stack: the top is the end
        self._free_count = len(self._s)
        self._next_uid = 1
        self._bursts = BurstColumns(len(self._s))
        self.finished: list[Flow] = []
        # (old uid, new uid) of flows cut at the active timeout since the last take_continued()
        self._continued: list[tuple[int, int]] = []

    def __len__(self) -> int:
        return len(self._s) - self._free_count

    # ---- ingesting packets -------------------------------------------------------------------------

    def ingest(self, packets: PacketColumns) -> Hooked:
        """Adds packets (in time order) to their flows. Returns the packets of flows the metadata extractor
        watches that carry payload."""
        if not len(packets):
            return _NOTHING_HOOKED
        g = _Grouping(packets)
        slots = np.fromiter((self._index.get(k, -1) for k in g.keys), dtype=np.int64, count=g.count)
        g.not_before(np.where(slots >= 0, self._s.ts_last[np.maximum(slots, 0)], -np.inf))
        plan = _Plan(self, g, slots)
        if plan.deferred.any():  # settle everything before the first tangle of each flow, then the rest
            later = np.zeros(len(packets), dtype=bool)
            later[g.order] = plan.deferred
            return self._ingest_parts(packets, [np.flatnonzero(~later), np.flatnonzero(later)])
        if plan.new_flows > self._max_flows and len(packets) > 1:
            half = len(packets) // 2
            return self._ingest_parts(packets, [np.arange(half), np.arange(half, len(packets))])
        return self._commit(g, slots, plan)

    def _ingest_parts(self, packets: PacketColumns, parts: list[np.ndarray]) -> Hooked:
        hooked = [self.ingest(packets.take(part)) for part in parts]
        return Hooked(np.concatenate([part[h.positions] for part, h in zip(parts, hooked, strict=True)]),
                      *(np.concatenate([h[i] for h in hooked]) for i in range(1, len(Hooked._fields))))

    def take_continued(self) -> list[tuple[str, str]]:
        """(old uid, new uid) of the flows cut at the active timeout since the last call: the new flow goes on
        with the same conversation."""
        continued, self._continued = self._continued, []
        return [(f"F{old:x}", f"F{new:x}") for old, new in continued]

    def annotate(self, slot: int, uid: int, service: str, auth: tuple[int, int, int]) -> bool:
        """What the protocol extractors learnt about a live flow: its service (kept once set) and login counts
        to add. False when the flow is no longer in the table (it ended in this batch)."""
        s = self._s
        if not (s.live[slot] and s.uid[slot] == uid):
            return False
        if service and not s.service[slot]:
            s.service[slot] = service
        s.auth[slot] += auth
        return True

    def unwatch(self, slots: np.ndarray, uids: np.ndarray) -> None:
        """The metadata extractor needs no more packets of these flows (checked by uid: a slot may be reused)."""
        s = self._s
        same = s.live[slots] & (s.uid[slots] == uids)
        s.interested[slots[same]] = False

    def _commit(self, g: _Grouping, slots: np.ndarray, plan: _Plan):
        s = self._s
        ending = np.flatnonzero(plan.ends_old >= 0)
        cut = ending[plan.ends_old[ending] == ACTIVE]
        carried = (s.uid[slots[cut]], s.service[slots[cut]], s.interested[slots[cut]])
        if len(ending):
            self._finish(slots[ending], plan.ends_old[ending])
        continues, inner_gap = plan.continues, plan.inner_gap
        # Segments: runs of a group's packets between idle gaps; each is (part of) one flow.
        seg_flag = np.zeros(len(g.ts), dtype=bool)
        seg_flag[g.starts] = True
        seg_flag |= plan.splits
        seg_starts = np.flatnonzero(seg_flag)
        seg_ends = np.append(seg_starts[1:], len(g.ts))
        group_of_packet = np.repeat(np.arange(g.count), g.ends - g.starts)
        seg_group = group_of_packet[seg_starts]
        first_of_group = np.zeros(len(seg_starts), dtype=bool)
        first_of_group[np.searchsorted(seg_starts, g.starts)] = True
        last_of_group = np.append(first_of_group[1:], True)
        seg_continues = first_of_group & continues[seg_group]
        new = np.flatnonzero(~seg_continues)
        seg_slot = np.where(seg_continues, slots[seg_group], -1)
        if len(new):  # a batch of flows that all go on opens none: skip the forty column writes
            seg_slot[new] = self._allocate(len(new), protect=slots[continues])
            self._open(g, seg_slot[new], seg_starts[new], registered=last_of_group[new],
                       keys=[g.keys[i] for i in seg_group[new].tolist()])
        if len(cut):
            self._continue(seg_slot[np.searchsorted(seg_starts, g.starts[cut])], *carried)
        cross_gap = np.where(seg_continues, g.ts[seg_starts] - s.ts_last[np.maximum(seg_slot, 0)], np.nan)
        hook = self._accumulate(g, seg_slot, seg_starts, seg_ends, seg_flag, inner_gap, cross_gap)
        done_early = new[~last_of_group[new]]  # flows that an idle gap inside this batch already ended
        if len(done_early):
            self._finish(seg_slot[done_early], np.full(len(done_early), IDLE))
        return hook

    def _continue(self, new_slots: np.ndarray, old_uids, service, interested) -> None:
        """A flow cut at the active timeout goes on in `new_slots`: same service, and a flow the extractor had
        let go of stays let go of."""
        s = self._s
        s.service[new_slots] = service
        s.interested[new_slots] &= interested
        self._continued.extend(zip(old_uids.tolist(), s.uid[new_slots].tolist(), strict=True))

    def _allocate(self, count: int, protect: np.ndarray) -> np.ndarray:
        if count > self._free_count and len(self._s) < self._max_flows:
            self._grow(min(self._max_flows, max(2 * len(self._s), len(self) + count)))
        if count > self._free_count:
            self._evict(count - self._free_count + self._max_flows // 100, protect)
        top = self._free_count
        self._free_count -= count
        return self._free[top - count : top][::-1].copy()

    def _grow(self, capacity: int) -> None:
        old = len(self._s)
        self._s.grow(capacity)
        self._bursts.grow(capacity)
        free = np.empty(capacity, dtype=np.int64)  # room for every slot to be free at once
        free[: self._free_count] = self._free[: self._free_count]
        free[self._free_count : self._free_count + capacity - old] = np.arange(old, capacity)[::-1]
        self._free = free
        self._free_count += capacity - old

    def _evict(self, count: int, protect: np.ndarray) -> None:
        """Ends the least recently active flows to make room (the memory cap)."""
        last = np.where(self._s.live, self._s.ts_last, np.inf)
        last[protect] = np.inf
        count = min(count, int(np.isfinite(last).sum()))
        victims = np.argpartition(last, count - 1)[:count] if count < len(last) else np.flatnonzero(
            np.isfinite(last))
        self._stats.flows_evicted += len(victims)
        self._finish(victims, np.full(len(victims), EVICTED))

    def _open(self, g: _Grouping, new_slots, first, registered, keys) -> None:
        s = self._s
        packets = g.original_positions[first]
        p = g.packets
        s.live[new_slots] = True
        key_array = np.empty(len(keys), dtype=object)
        key_array[:] = keys
        s.key[new_slots] = key_array
        self._index.update(zip(key_array[registered].tolist(), new_slots[registered].tolist(), strict=True))
        # uids in packet order of each flow's first packet
        rank = np.argsort(np.argsort(packets, kind="stable"), kind="stable")
        s.uid[new_slots] = self._next_uid + rank
        self._next_uid += len(new_slots)
        s.orig_is_a[new_slots] = g.src_is_a[first]
        proto = p.proto[packets]
        s.proto[new_slots] = proto
        s.v6[new_slots] = p.v6[packets]
        s.vlan[new_slots] = p.vlan[packets]
        s.addr[new_slots] = np.stack([p.src_hi[packets], p.src_lo[packets], p.dst_hi[packets],
                                      p.dst_lo[packets]], axis=1)
        icmp = (proto == L.PROTO_ICMP) | (proto == L.PROTO_ICMPV6)
        s.ports[new_slots] = np.stack([p.sport[packets], np.where(icmp, p.icmp_code[packets], p.dport[packets])],
                                      axis=1)
        s.macs[new_slots] = np.stack([mac_values(p.buffer, p.smac_off[packets]),
                                      mac_values(p.buffer, p.dmac_off[packets])], axis=1)
        s.ts_start[new_slots] = g.ts[first]
        s.ts_last[new_slots] = g.ts[first]
        s.counters[new_slots] = 0
        s.flags_orig[new_slots] = 0
        s.letters[new_slots] = 0
        s.history[new_slots] = ""
        s.iat[new_slots] = (0.0, 0.0, np.inf, -np.inf)
        s.size_sq[new_slots] = 0.0
        s.size_range[new_slots] = (np.iinfo(np.int64).max, 0)
        s.first_payload_count[new_slots] = 0
        s.interested[new_slots] = self._interested(proto, s.ports[new_slots])
        s.has_macs_alt[new_slots] = False
        s.service[new_slots] = ""
        s.auth[new_slots] = 0
        s.last_segment_end[new_slots] = -1
        self._bursts.reset(new_slots)

    def _interested(self, proto: np.ndarray, ports: np.ndarray) -> np.ndarray:
        if self._interest is None or not len(proto):
            return np.zeros(len(proto), dtype=bool)
        triples, inverse = np.unique(np.column_stack([proto, ports]), axis=0, return_inverse=True)
        answers = np.array([bool(self._interest(L.PROTO_NAMES.get(pr, str(pr)), sp, dp))
                            for pr, sp, dp in triples.tolist()], dtype=bool)
        return answers[inverse.ravel()]

    def _accumulate(self, g: _Grouping, seg_slot, seg_starts, seg_ends, seg_flag, inner_gap, cross_gap):
        s = self._s
        lengths = seg_ends - seg_starts
        slot_of_packet = np.repeat(seg_slot, lengths)
        from_orig = g.src_is_a == s.orig_is_a[slot_of_packet]
        orig = from_orig.astype(np.int64)
        resp = 1 - orig
        flags, paylen, iplen = g.flags, g.paylen, g.iplen
        counters = np.add.reduceat(np.stack([
            orig, resp, iplen * orig, iplen * resp, paylen * orig, paylen * resp,
            (flags & (T.TCP_SYN | T.TCP_ACK)) == T.TCP_SYN,
            (flags & (T.TCP_SYN | T.TCP_ACK)) == (T.TCP_SYN | T.TCP_ACK),
            (flags & T.TCP_FIN) != 0, (flags & T.TCP_RST) != 0, (flags & T.TCP_PSH) != 0,
            (flags == T.TCP_ACK) & (paylen == 0), (flags & T.TCP_URG) != 0,
        ]).astype(np.int64), seg_starts, axis=1)
        s.counters[seg_slot] += counters.T
        s.flags_orig[seg_slot] |= np.bitwise_or.reduceat(flags * orig, seg_starts)
        self._add_history(g, seg_slot, seg_starts, resp)
        self._add_first_payloads(seg_slot, seg_starts, slot_of_packet, paylen, orig)
        talks = np.flatnonzero(from_orig & (paylen > 0))
        self._bursts.add(slot_of_packet[talks], g.ts[talks], paylen[talks])
        opening = np.zeros(len(g.ts), dtype=bool)  # a flow's first packet carries its first MAC pair
        opening[seg_starts[np.isnan(cross_gap)]] = True
        self._add_macs_alt(g, slot_of_packet, from_orig & ~opening)

        sizes = iplen.astype(np.float64)
        s.size_sq[seg_slot] += np.add.reduceat(sizes * sizes, seg_starts)
        s.size_range[seg_slot, 0] = np.minimum(s.size_range[seg_slot, 0], np.minimum.reduceat(iplen, seg_starts))
        s.size_range[seg_slot, 1] = np.maximum(s.size_range[seg_slot, 1], np.maximum.reduceat(iplen, seg_starts))

        gaps = np.where(seg_flag, 0.0, inner_gap)
        cross = np.nan_to_num(cross_gap, nan=0.0)
        has_cross = ~np.isnan(cross_gap)
        iat = s.iat[seg_slot]
        iat[:, 0] += np.add.reduceat(gaps, seg_starts) + cross
        iat[:, 1] += np.add.reduceat(gaps * gaps, seg_starts) + cross * cross
        iat[:, 2] = np.minimum(iat[:, 2], np.minimum.reduceat(np.where(seg_flag, np.inf, inner_gap), seg_starts))
        iat[:, 3] = np.maximum(iat[:, 3], np.maximum.reduceat(np.where(seg_flag, -np.inf, inner_gap), seg_starts))
        iat[:, 2] = np.where(has_cross, np.minimum(iat[:, 2], cross), iat[:, 2])
        iat[:, 3] = np.where(has_cross, np.maximum(iat[:, 3], cross), iat[:, 3])
        s.iat[seg_slot] = iat
        s.ts_last[seg_slot] = g.ts[seg_ends - 1]

        hook = s.interested[slot_of_packet] & (paylen > 0) & (g.packets.pay_cap[g.order] > 0)
        self._drop_repeated_segments(g, hook, slot_of_packet, resp)
        hooked_slots = slot_of_packet[hook]
        return Hooked(g.order[hook], s.uid[hooked_slots], hooked_slots, from_orig[hook])

    def _drop_repeated_segments(self, g: _Grouping, hook: np.ndarray, slot_of_packet, resp) -> None:
        """Takes out of `hook` the TCP segments that end where the last payload segment of the same side of
        their flow ended: a retransmission, or the mirror port's second copy. The metadata extractor drops every
        segment that brings no new byte before any parser sees it; these, the bulk of such segments, need not
        cost it a Python call each (a retransmission storm, a duplicating mirror)."""
        s = self._s
        rows = np.flatnonzero(hook & (g.proto == L.PROTO_TCP))
        if not len(rows):
            return
        at = g.order[rows]
        ends = (g.packets.seq[at] + g.packets.pay_cap[at]) & _SEQUENCE_MASK
        slots, sides = slot_of_packet[rows], resp[rows]
        # packets are grouped by flow and in time order within it: sort by side too, keeping that order
        by_side = np.argsort(sides, kind="stable")
        by_side = by_side[np.argsort(slots[by_side], kind="stable")]
        slots, sides, ends = slots[by_side], sides[by_side], ends[by_side]
        first = np.ones(len(rows), dtype=bool)
        first[1:] = (slots[1:] != slots[:-1]) | (sides[1:] != sides[:-1])
        previous = np.empty(len(rows), dtype=np.int64)
        previous[1:] = ends[:-1]
        previous[first] = s.last_segment_end[slots[first], sides[first]]
        hook[rows[by_side[ends == previous]]] = False
        last = np.append(first[1:], True)
        s.last_segment_end[slots[last], sides[last]] = ends[last]

    def _add_macs_alt(self, g: _Grouping, slot_of_packet, candidates) -> None:
        """The first originator packet (of `candidates`) whose MAC pair differs from the flow's first pair."""
        s = self._s
        rows = np.flatnonzero(candidates & ~s.has_macs_alt[slot_of_packet])
        if not len(rows):
            return
        p, at = g.packets, g.order[rows]
        slots = slot_of_packet[rows]
        pairs = np.stack([mac_values(p.buffer, p.smac_off[at]), mac_values(p.buffer, p.dmac_off[at])], axis=1)
        differs = np.flatnonzero((pairs != s.macs[slots]).any(axis=1))
        if not len(differs):
            return
        first_slots, first = np.unique(slots[differs], return_index=True)  # packets are in time order per flow
        s.macs_alt[first_slots] = pairs[differs[first]]
        s.has_macs_alt[first_slots] = True

    def _add_history(self, g: _Grouping, seg_slot, seg_starts, resp) -> None:
        s = self._s
        packet_letters = T.packet_letters(g.proto, g.flags, g.paylen) << (T.SIDE_SHIFT * resp)
        seen = np.bitwise_or.reduceat(packet_letters, seg_starts)
        new_letters = seen & ~s.letters[seg_slot]
        s.letters[seg_slot] |= seen
        changed = np.flatnonzero(new_letters)
        if not len(changed):
            return
        # position of each new letter's first packet, per changed segment
        segment_of_packet = np.repeat(np.arange(len(seg_starts)), np.diff(np.append(seg_starts, len(g.ts))))
        wanted = np.isin(segment_of_packet, changed)
        rows = np.flatnonzero(wanted)
        starts = np.flatnonzero(np.diff(np.append(-1, segment_of_packet[rows])) != 0)
        first_seen = np.full((len(changed), len(T.HISTORY_CHARS)), -1, dtype=np.int64)
        for bit in range(len(T.HISTORY_CHARS)):
            has = (packet_letters[rows] >> bit) & 1 == 1
            first = np.minimum.reduceat(np.where(has, rows, np.iinfo(np.int64).max), starts)
            is_new = (new_letters[changed] >> bit) & 1 == 1
            first_seen[:, bit] = np.where(is_new, first, -1)
        fragments = np.array(T.letters_in_order(first_seen), dtype=object)
        slots = seg_slot[changed]
        s.history[slots] = s.history[slots] + fragments

    def _add_first_payloads(self, seg_slot, seg_starts, slot_of_packet, paylen, orig) -> None:
        s = self._s
        has = paylen > 0
        room = s.first_payload_count[slot_of_packet] < FIRST_PAYLOADS
        if not (has & room).any():
            return
        running = np.cumsum(has)
        before = (running - has)[seg_starts]
        rank = running - 1 - np.repeat(before, np.diff(np.append(seg_starts, len(paylen))))
        position = s.first_payload_count[slot_of_packet] + rank
        take = has & (position < FIRST_PAYLOADS)
        s.first_payloads[slot_of_packet[take], position[take]] = np.where(orig, paylen, -paylen)[take]
        s.first_payload_count[seg_slot] = np.minimum(
            FIRST_PAYLOADS, s.first_payload_count[seg_slot] + np.add.reduceat(has.astype(np.int64), seg_starts))

    # ---- ending flows ------------------------------------------------------------------------------

    def expire(self, now: float) -> None:
        """Ends every flow that has been quiet past its timeout as of packet time `now`."""
        s = self._s
        live = np.flatnonzero(s.live)
        closed = T.is_closed(s.letters[live]) & (s.proto[live] == L.PROTO_TCP)
        timeout = np.where(closed, self._timeouts.close_delay, self._idle[s.proto[live]])
        quiet = now - s.ts_last[live] > timeout
        if quiet.any():
            slots = live[quiet]
            self._finish(slots, np.where(closed[quiet], _close_reason(s.letters[slots]), IDLE))

    def flush(self) -> None:
        """End of input: every remaining flow ends ("end", or how TCP closed it)."""
        s = self._s
        live = np.flatnonzero(s.live)
        closed = T.is_closed(s.letters[live]) & (s.proto[live] == L.PROTO_TCP)
        self._finish(live, np.where(closed, _close_reason(s.letters[live]), END))

    def _finish(self, slots: np.ndarray, reasons: np.ndarray) -> None:
        if not len(slots):
            return
        s = self._s
        with _collector_paused():
            self.finished.extend(_flows(s, self._bursts, slots, reasons))
        self._bursts.release(slots)
        index = self._index
        for key, slot in zip(s.key[slots].tolist(), slots.tolist(), strict=True):
            if index.get(key) == slot:
                del index[key]
        s.live[slots] = False
        s.key[slots] = None
        s.history[slots] = ""
        self._free[self._free_count : self._free_count + len(slots)] = slots
        self._free_count += len(slots)


class _Plan:
    """What a batch will do to the table, worked out before anything changes.

    ends_old: per group, the end reason of the known flow that this batch's first packet ends (-1: none).
    continues: per group, the batch extends a flow already in the table.
    splits: per sorted packet, an idle gap before it starts a new flow.
    deferred: per sorted packet, left for a later round (see below).
    """

    def __init__(self, table: FlowTable, g: _Grouping, slots: np.ndarray) -> None:
        s, t = table._s, table._timeouts
        known = slots >= 0
        ks = slots[known]
        first_ts = g.ts[g.starts]
        closed_before = np.zeros(g.count, dtype=bool)
        closed_before[known] = T.is_closed(s.letters[ks]) & (s.proto[ks] == L.PROTO_TCP)
        timeout = np.where(closed_before[known], t.close_delay, table._idle[s.proto[ks]])
        quiet_too_long = first_ts[known] - s.ts_last[ks] > timeout
        too_old = first_ts[known] - s.ts_start[ks] > t.active
        self.ends_old = np.full(g.count, -1, dtype=np.int64)
        self.ends_old[known] = np.where(
            quiet_too_long, np.where(closed_before[known], _close_reason(s.letters[ks]), IDLE),
            np.where(too_old, ACTIVE, -1))
        self.continues = known & (self.ends_old < 0)
        start_ref = first_ts.copy()
        start_ref[self.continues] = s.ts_start[slots[self.continues]]
        self.inner_gap = np.zeros(len(g.ts))
        self.inner_gap[1:] = np.diff(g.ts)
        self.inner_gap[g.starts] = 0.0
        # A long gap after a FIN or RST (the close delay may end the flow there) and a packet past the
        # active timeout are decided only by handling packets in order: from the first such packet on, a
        # flow's packets wait for the next round, where that packet is the first and the rules above apply.
        group_of_packet = np.repeat(np.arange(g.count), g.ends - g.starts)
        closing = ((g.flags & (T.TCP_FIN | T.TCP_RST)) != 0).astype(np.int64)
        closings_before = np.cumsum(closing) - closing
        maybe_closed = (closings_before - closings_before[g.starts][group_of_packet] > 0) | (
            self.continues & closed_before)[group_of_packet]
        tangle = ((self.inner_gap > t.close_delay) & maybe_closed) | (g.ts - start_ref[group_of_packet] > t.active)
        tangle[g.starts] = False
        position = np.arange(len(g.ts))
        first_tangle = np.minimum.reduceat(np.where(tangle, position, len(g.ts)), g.starts)
        self.deferred = position >= first_tangle[group_of_packet]
        self.splits = self.inner_gap > table._idle[g.proto]
        self.new_flows = g.count - int(self.continues.sum()) + int(self.splits.sum())


class _Grouping:
    """A batch's packets sorted by flow key (then packet order), with group boundaries and dict keys."""

    def __init__(self, packets: PacketColumns) -> None:
        self.packets = packets
        p = packets
        src_is_a = (p.src_hi < p.dst_hi) | ((p.src_hi == p.dst_hi) & (
            (p.src_lo < p.dst_lo) | ((p.src_lo == p.dst_lo) & (p.sport <= p.dport))))
        a_hi, b_hi = np.where(src_is_a, p.src_hi, p.dst_hi), np.where(src_is_a, p.dst_hi, p.src_hi)
        a_lo, b_lo = np.where(src_is_a, p.src_lo, p.dst_lo), np.where(src_is_a, p.dst_lo, p.src_lo)
        a_port, b_port = np.where(src_is_a, p.sport, p.dport), np.where(src_is_a, p.dport, p.sport)
        rest = (p.proto | (p.vlan << 8) | (p.v6.astype(np.int64) << 20) | (a_port << 32)).astype(np.uint64) | (
            b_port.astype(np.uint64) << np.uint64(48))
        columns = (a_hi, a_lo, b_hi, b_lo, rest)
        order = np.argsort(_mix(columns), kind="stable")
        starts = _boundaries(columns, order)
        if len(starts) != len(np.unique(_mix(columns))):  # a hash collision interleaved two keys
            order = np.lexsort((np.arange(len(p)), *columns[::-1]))
            starts = _boundaries(columns, order)
        self.order = order
        self.original_positions = order
        self.starts = starts
        self.ends = np.append(starts[1:], len(order))
        self.count = len(starts)
        self.ts = _monotonic_within(p.ts[order], starts)
        self.src_is_a = src_is_a[order]
        self.flags = p.flags[order]
        self.paylen = p.paylen[order]
        self.iplen = p.iplen[order]
        self.proto = p.proto[order]
        first = order[starts]
        self.keys = np.ascontiguousarray(np.stack([c[first] for c in columns], axis=1)).view(_KEY).ravel().tolist()


    def not_before(self, floor: np.ndarray) -> None:
        """A flow's packets stamped before the last one it already has (the clock stepped back) count as
        arriving at that time: no negative gaps, no flow ending before it starts."""
        if (floor > self.ts[self.starts]).any():  # each group's times are non-decreasing: its first is its least
            self.ts = np.maximum(self.ts, np.repeat(floor, self.ends - self.starts))


def _monotonic_within(ts: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Each group's times made non-decreasing in packet order (see _Grouping.not_before); rare, so only the
    groups where time steps back are walked."""
    inside = np.ones(len(ts), dtype=bool)
    inside[starts] = False
    falls = np.flatnonzero((ts[1:] < ts[:-1]) & inside[1:]) + 1
    if not len(falls):
        return ts
    ts = ts.copy()
    ends = np.append(starts[1:], len(ts))
    for group in np.unique(np.searchsorted(starts, falls, side="right") - 1).tolist():
        run = ts[starts[group] : ends[group]]
        np.maximum.accumulate(run, out=run)
    return ts


def _boundaries(columns, order) -> np.ndarray:
    differs = np.zeros(len(order), dtype=bool)
    differs[0] = True
    for column in columns:
        sorted_column = column[order]
        differs[1:] |= sorted_column[1:] != sorted_column[:-1]
    return np.flatnonzero(differs)


_MIX = [np.uint64(m) for m in (0x9E3779B97F4A7C15, 0xC2B2AE3D27D4EB4F, 0x165667B19E3779F9, 0x27D4EB2F165667C5,
                               0xFF51AFD7ED558CCD)]


def _mix(columns) -> np.ndarray:
    h = np.zeros(len(columns[0]), dtype=np.uint64)
    for column, multiplier in zip(columns, _MIX, strict=True):
        h = (h ^ column) * multiplier
        h ^= h >> np.uint64(29)
    return h


def _close_reason(letters: np.ndarray) -> np.ndarray:
    return np.where(((letters | (letters >> T.SIDE_SHIFT)) & T.RST) != 0, RST, FIN)


def mac_values(buffer, offsets: np.ndarray) -> np.ndarray:
    """The 6-byte MACs at `offsets` of `buffer` as integers (-1 where the offset is -1: no MAC)."""
    known = offsets >= 0
    if not known.any():
        return np.full(len(offsets), -1, dtype=np.int64)
    view = np.frombuffer(buffer, dtype=np.uint8)
    padded = np.zeros((len(offsets), 8), dtype=np.uint8)  # two zero bytes, then the MAC: a big-endian integer
    padded[:, 2:] = view[np.where(known, offsets, 0)[:, None] + np.arange(6)]
    return np.where(known, padded.view(">u8").ravel().astype(np.int64), -1)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """Flow records hold no reference cycles, yet building hundreds of thousands of them makes the cyclic
    garbage collector rescan them again and again (about a third of the cost on a SYN flood)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _flows(s: _Slots, bursts: BurstColumns, slots: np.ndarray, reasons: np.ndarray) -> list[Flow]:
    """Flow records for the given slots, built column by column (one Struct construction per flow)."""
    c = s.counters[slots]
    packets = c[:, 0] + c[:, 1]
    size_mean = (c[:, 2] + c[:, 3]) / packets
    size_std = np.sqrt(np.maximum(s.size_sq[slots] / packets - size_mean**2, 0.0))
    iat = s.iat[slots]
    gaps = np.maximum(packets - 1, 1)
    has_gaps = packets > 1
    iat_mean = np.where(has_gaps, iat[:, 0] / gaps, 0.0)
    iat_std = np.where(has_gaps, np.sqrt(np.maximum(iat[:, 1] / gaps - iat_mean**2, 0.0)), 0.0)
    history = s.history[slots].tolist()
    proto = s.proto[slots]
    states = T.conn_states(proto, s.letters[slots], c[:, 0], c[:, 1], c[:, 4], c[:, 5], history)
    addr, v6 = s.addr[slots], s.v6[slots]
    first_payloads = [row[:count] for row, count in zip(s.first_payloads[slots].tolist(),
                                                         s.first_payload_count[slots].tolist(), strict=True)]
    flows = list(map(
        _flow,
        [f"F{uid:x}" for uid in s.uid[slots].tolist()],
        s.ts_start[slots].tolist(), s.ts_last[slots].tolist(), PROTO_TEXTS[proto].tolist(),
        address_texts(addr[:, 0], addr[:, 1], v6), address_texts(addr[:, 2], addr[:, 3], v6),
        s.ports[slots, 0].tolist(), s.ports[slots, 1].tolist(),
        mac_texts(s.macs[slots, 0]), mac_texts(s.macs[slots, 1]), s.vlan[slots].tolist(),
        *(c[:, i].tolist() for i in range(len(COUNTERS))),
        states, history, s.flags_orig[slots].tolist(),
        iat_mean.tolist(), iat_std.tolist(), np.where(has_gaps, iat[:, 2], 0.0).tolist(),
        np.where(has_gaps, iat[:, 3], 0.0).tolist(), size_mean.tolist(), size_std.tolist(),
        s.size_range[slots, 0].tolist(), s.size_range[slots, 1].tolist(), first_payloads,
        _END_REASON_NAMES[reasons].tolist(),
    ))
    _add_findings(flows, s, bursts, slots)
    return flows


def _add_findings(flows: list[Flow], s: _Slots, bursts: BurstColumns, slots: np.ndarray) -> None:
    """Service, logins, bursts and a second MAC pair, set only where they differ from the defaults: most flows
    of a flood have none of them."""
    service, auth, count = s.service[slots], s.auth[slots], bursts.count[slots]
    for i in np.flatnonzero(service != "").tolist():
        flows[i].service = service[i]
    for i in np.flatnonzero(auth[:, 0] | auth[:, 1] | auth[:, 2]).tolist():
        flows[i].auth_attempts, flows[i].auth_failures, flows[i].auth_successes = auth[i].tolist()
    for i, bursts_orig in zip(np.flatnonzero(count).tolist(), count[count > 0].tolist(), strict=True):
        flows[i].bursts_orig = bursts_orig
        if bursts_orig >= MIN_BURSTS_FOR_LISTS:
            flows[i].burst_gaps, flows[i].burst_sizes = bursts.lists(int(slots[i]))
    for i in np.flatnonzero(s.has_macs_alt[slots]).tolist():
        flows[i].src_mac_alt, flows[i].dst_mac_alt = (mac_text(mac) for mac in s.macs_alt[slots[i]].tolist())


def _flow(uid, ts_start, ts_end, proto, src_ip, dst_ip, src_port, dst_port, src_mac, dst_mac, vlan,
          pkts_orig, pkts_resp, bytes_orig, bytes_resp, payload_orig, payload_resp,
          syn, synack, fin, rst, psh, ack_only, urg, conn_state, history, tcp_flags_orig,
          iat_mean, iat_std, iat_min, iat_max, size_mean, size_std, size_min, size_max, first_payloads,
          end_reason) -> Flow:
    return Flow(
        uid=uid, ts_start=ts_start, ts_end=ts_end, proto=proto, src_ip=src_ip, dst_ip=dst_ip,
        src_port=src_port, dst_port=dst_port, src_mac=src_mac, dst_mac=dst_mac, vlan=vlan,
        pkts_orig=pkts_orig, pkts_resp=pkts_resp, bytes_orig=bytes_orig, bytes_resp=bytes_resp,
        payload_orig=payload_orig, payload_resp=payload_resp, conn_state=conn_state, history=history,
        syn=syn, synack=synack, fin=fin, rst=rst, psh=psh, ack_only=ack_only, urg=urg,
        tcp_flags_orig=tcp_flags_orig, iat_mean=iat_mean, iat_std=iat_std, iat_min=iat_min, iat_max=iat_max,
        size_mean=size_mean, size_std=size_std, size_min=size_min, size_max=size_max,
        first_payloads=first_payloads, end_reason=end_reason,
    )


# proto number -> the name records carry ("TCP", or the number as text)
PROTO_TEXTS = np.array([L.PROTO_NAMES.get(number, str(number)) for number in range(256)], dtype=object)
_END_REASON_NAMES = np.array(END_REASONS, dtype=object)


def address_texts(hi: np.ndarray, lo: np.ndarray, v6: np.ndarray) -> list[str]:
    """Address text for many flows; each distinct address is formatted once."""
    seen: dict[tuple[int, int, bool], str] = {}
    texts = []
    for key in zip(hi.tolist(), lo.tolist(), v6.tolist(), strict=True):
        text = seen.get(key)
        if text is None:
            text = seen[key] = address_text(*key)
        texts.append(text)
    return texts


def mac_texts(values: np.ndarray) -> list[str]:
    seen: dict[int, str] = {}
    texts = []
    for value in values.tolist():
        text = seen.get(value)
        if text is None:
            text = seen[value] = mac_text(value)
        texts.append(text)
    return texts


def address_text(hi: int, lo: int, v6: bool) -> str:
    if v6:
        return socket.inet_ntop(socket.AF_INET6, ((hi << 64) | lo).to_bytes(16, "big"))
    return socket.inet_ntoa((lo & 0xFFFFFFFF).to_bytes(4, "big"))


def mac_text(value: int) -> str:
    return value.to_bytes(6, "big").hex(":") if value >= 0 else ""
