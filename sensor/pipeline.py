"""The sensor's processing stage: frames in; flows, protocol events and capture counters out.

The same object serves capture files and live capture: `feed` takes any iterable of (ts, linktype, frame)
tuples (what sensor.capture.live yields), `feed_batch` takes frame batches (the fast path for files), and
`drain` hands over whatever finished since the last call, so a shipper can batch it.

The flow table hands the payload packets of the flows the metadata extractor watches to the extractor, one
by one, except a TCP segment that ends where the last one of its side did (a retransmission, a duplicating
mirror's second copy), which the table drops with numpy. What the extractor learns about a flow (its service,
login outcomes) goes back into the flow's record, and flows it needs no more packets of stop costing Python
work (`take_findings`).
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Iterable
from itertools import islice

import msgspec
import numpy as np

from sensor.decode import layers as L
from sensor.decode.columns import PacketColumns
from sensor.decode.packet import PacketDecoder
from sensor.decode.vectorised import decode_batch
from sensor.flows.table import PROTO_TEXTS, FlowTable, Hooked, address_texts, mac_texts, mac_values
from sensor.flows.timeouts import DEFAULT_TIMEOUTS, FlowTimeouts
from sensor.pcap import CaptureFile, Frame, FrameBatch
from sensor.records import CaptureStats, Event, Flow

log = logging.getLogger(__name__)

SWEEP_INTERVAL = 1.0  # seconds of packet time between looks for timed-out flows
LIVE_BATCH = 4096  # frames gathered from an iterable before they are decoded together


class Drained(msgspec.Struct):
    flows: list[Flow]
    events: list[Event]
    stats: CaptureStats  # running totals since the pipeline started


def default_extractor():
    """The protocol metadata extractor of sensor.protocols, or None while that module is not there."""
    try:
        from sensor.protocols import MetadataExtractor
    except ImportError:
        return None
    return MetadataExtractor()


def _packet_context():
    try:
        from sensor.protocols import PacketContext
    except ImportError:
        from sensor.protocols.extractor import PacketContext
    return PacketContext


_DEFAULT = object()


class Pipeline:
    def __init__(self, extractor=_DEFAULT, timeouts: FlowTimeouts = DEFAULT_TIMEOUTS, max_flows: int = 1_000_000,
                 vectorised: bool = True, tap: Callable[[FrameBatch], None] | None = None) -> None:
        """`extractor`: any object with interested(proto, src_port, dst_port) and on_payload(ctx, payload),
        optionally take_findings() -> sensor.protocols.extractor.Findings and flow_continued(old_uid, new_uid);
        by default sensor.protocols.MetadataExtractor. `vectorised=False` decodes every frame one by one
        (the reference the fast path is tested against). `tap` sees every frame batch before it is decoded (the
        packet store's recorder, which must never block)."""
        self.stats = CaptureStats()
        self.extractor = default_extractor() if extractor is _DEFAULT else extractor
        self.extractor_errors = 0
        self._take_findings = getattr(self.extractor, "take_findings", None)
        self._flow_continued = getattr(self.extractor, "flow_continued", None)
        self._context = _packet_context() if self.extractor is not None else None
        self._decoder = PacketDecoder()
        self._vectorised = vectorised
        self._table = FlowTable(self.stats, timeouts, max_flows,
                                interest=self.extractor.interested if self.extractor is not None else None)
        self._events: list[Event] = []
        self._last_sweep = -math.inf
        self._tap = tap

    @property
    def active_flows(self) -> int:
        return len(self._table)

    def feed(self, frames: Iterable[Frame], batch_size: int = LIVE_BATCH) -> None:
        iterator = iter(frames)
        while chunk := list(islice(iterator, batch_size)):
            self.feed_batch(FrameBatch.from_frames(chunk))

    def feed_batch(self, batch: FrameBatch) -> None:
        if not len(batch):
            return
        if self._tap is not None:
            self._tap(batch)
        packets = decode_batch(batch, self._decoder, self.stats, self._events, self._vectorised)
        finished_before = len(self._table.finished)
        hooked = self._table.ingest(packets)
        continued = self._table.take_continued()
        if len(hooked.positions):
            self._extract_metadata(packets, hooked, continued)
            if self._take_findings is not None:
                self._apply_findings(hooked, finished_before)
        elif continued and self._flow_continued is not None:
            for old, new in continued:
                self._flow_continued(old, new)
        now = float(batch.ts.max())
        if now - self._last_sweep >= SWEEP_INTERVAL:
            self._table.expire(now)
            self._last_sweep = now

    def feed_file(self, path: str | os.PathLike, batch_size: int = 65536,
                  on_drained: Callable[[Drained], None] | None = None,
                  read_up_to: Callable[[int], None] | None = None) -> list[str]:
        """Reads a whole capture file; returns what the reader had to skip (truncation, corruption). Packet
        records the reader skipped count as packets, and malformed ones. `on_drained` gets what finished after
        every batch, so a long file's records are handed on as they come instead of piling up here;
        `read_up_to(offset)` is told how far into the file each batch ends (progress of a long read)."""
        capture = CaptureFile(path)
        for batch in capture.batches(batch_size):
            self.feed_batch(batch)
            if on_drained is not None:
                on_drained(self.drain())
            if read_up_to is not None and len(batch):
                read_up_to(int(batch.offsets[-1] + batch.caplen[-1]))
        self.stats.packets += capture.skipped_packets
        self.stats.malformed += capture.skipped_packets
        return capture.errors

    def advance(self, now: float) -> None:
        """Live capture: time passes even when no packet comes. Flows quiet past their timeout as of `now` end,
        so a quiet wire still hands over what finished (timestamps there are the kernel's clock, like `now`)."""
        if now > self._last_sweep:
            self._table.expire(now)
            self._last_sweep = now

    def drain(self) -> Drained:
        flows, self._table.finished = self._table.finished, []
        events, self._events = self._events, []
        return Drained(flows, events, msgspec.structs.replace(self.stats))

    def close(self) -> Drained:
        """End of input: all flows still open end now."""
        self._table.flush()
        return self.drain()

    def _extract_metadata(self, packets: PacketColumns, hooked: Hooked, continued: list[tuple[str, str]]) -> None:
        order = np.argsort(hooked.positions, kind="stable")
        rows = hooked.positions[order]
        buffer = packets.buffer
        on_payload = self.extractor.on_payload
        # a flow cut at the active timeout hands its extractor state on when its continuation's first packet comes
        continues = {new: old for old, new in continued} if self._flow_continued is not None else {}
        for ctx, off, cap in zip(self._contexts(packets, rows, hooked.uids[order], hooked.from_orig[order]),
                                 packets.pay_off[rows].tolist(), packets.pay_cap[rows].tolist(), strict=True):
            if continues and ctx.flow_uid in continues:
                self._flow_continued(continues.pop(ctx.flow_uid), ctx.flow_uid)
            try:
                self._events.extend(on_payload(ctx, bytes(buffer[off : off + cap])))
            except Exception:  # one extractor bug must not stop the capture
                self.extractor_errors += 1
                if self.extractor_errors == 1:
                    log.exception("metadata extractor failed on a %s packet of flow %s", ctx.proto, ctx.flow_uid)
        for new, old in continues.items():  # continuations without a watched packet in this batch
            self._flow_continued(old, new)

    def _contexts(self, packets: PacketColumns, rows: np.ndarray, uids: np.ndarray, from_orig: np.ndarray):
        """The PacketContext of each of the packets `rows`, its fields worked out column by column: the texts
        (addresses, MAC, flow uid) once per distinct value, as a batch repeats the same few flows."""
        p = packets
        proto, v6 = p.proto[rows], p.v6[rows]
        icmp = (proto == L.PROTO_ICMP) | (proto == L.PROTO_ICMPV6)
        distinct_uids, uid_of_packet = np.unique(uids, return_inverse=True)
        flow_uids = np.array([f"F{uid:x}" for uid in distinct_uids.tolist()], dtype=object)[uid_of_packet]
        return map(
            self._context, p.ts[rows].tolist(), address_texts(p.src_hi[rows], p.src_lo[rows], v6),
            address_texts(p.dst_hi[rows], p.dst_lo[rows], v6), p.sport[rows].tolist(),
            np.where(icmp, p.icmp_code[rows], p.dport[rows]).tolist(), PROTO_TEXTS[proto].tolist(),
            mac_texts(mac_values(p.buffer, p.smac_off[rows])), flow_uids.tolist(), from_orig.tolist(),
            np.where(proto == L.PROTO_TCP, p.seq[rows], -1).tolist(),
        )

    def _apply_findings(self, hooked: Hooked, finished_before: int) -> None:
        """Writes what the extractor learnt into the flows' records and lets go of the flows it is done with.
        A flow that ended within this batch already has its record: that record is updated instead."""
        findings = self._take_findings()
        if not findings.learnt and not findings.released:
            return
        by_uid = np.argsort(hooked.uids, kind="stable")
        sorted_uids = hooked.uids[by_uid]

        def slots_of(flow_uids):
            wanted = np.array([int(uid[1:], 16) for uid in flow_uids], dtype=np.int64)
            at = np.minimum(np.searchsorted(sorted_uids, wanted), len(sorted_uids) - 1)
            return hooked.slots[by_uid[at]], wanted

        if findings.learnt:
            slots, wanted = slots_of(findings.learnt)
            ended: dict[str, Flow] | None = None
            for (flow_uid, learnt), slot, uid in zip(findings.learnt.items(), slots.tolist(), wanted.tolist(),
                                                     strict=True):
                if self._table.annotate(slot, uid, learnt.service, learnt.auth):
                    continue
                if ended is None:
                    ended = {flow.uid: flow for flow in self._table.finished[finished_before:]}
                flow = ended.get(flow_uid)
                if flow is not None:
                    learnt.apply(flow)
        if findings.released:
            slots, wanted = slots_of(findings.released)
            self._table.unwatch(slots, wanted)
