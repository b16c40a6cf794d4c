"""Decodes a whole frame batch at once: header fields at fixed offsets are read for every frame with numpy.

The common frames (Ethernet / VLAN / QinQ / SLL / SLL2 / raw / loopback link, IPv4 without fragmentation or
IPv6 without extension headers, TCP / UDP / ICMP with full headers captured) are decoded here. Everything
else goes to the per-packet decoder, which has the last word on what each field means.
"""

from __future__ import annotations

import numpy as np

from sensor.decode import layers as L
from sensor.decode.columns import PacketColumns
from sensor.decode.packet import PacketDecoder
from sensor.pcap.batch import FrameBatch
from sensor.records import CaptureStats

_VLAN = np.array(L.VLAN_ETHERTYPES)
_UNKNOWN_LINK = -2  # link type we do not decode: the frame is counted, nothing else
_SLOW = -1  # link layer needs the per-packet decoder (truncated, too many tags, odd family)


class _Bytes:
    """Big-endian reads at arbitrary offsets of a byte buffer, clipped so stray offsets never fault."""

    def __init__(self, buffer) -> None:
        self.view = np.frombuffer(buffer, dtype=np.uint8)
        self._last = max(len(self.view) - 1, 0)

    def u8(self, position: np.ndarray) -> np.ndarray:
        return self.view[np.minimum(position, self._last)].astype(np.int64)

    def be16(self, position: np.ndarray) -> np.ndarray:
        return (self.u8(position) << 8) | self.u8(position + 1)

    def be32(self, position: np.ndarray) -> np.ndarray:
        return (self.be16(position) << 16) | self.be16(position + 2)

    def le32(self, position: np.ndarray) -> np.ndarray:
        return (self.u8(position + 3) << 24) | (self.u8(position + 2) << 16) | (self.u8(position + 1) << 8) | (
            self.u8(position))

    def be128(self, position: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        raw = self.view[np.minimum(position[:, None] + np.arange(16), self._last)]
        halves = np.ascontiguousarray(raw).view(">u8").astype(np.uint64)
        return halves[:, 0], halves[:, 1]


def decode_batch(batch: FrameBatch, decoder: PacketDecoder, stats: CaptureStats, events: list,
                 vectorised: bool = True) -> PacketColumns:
    """The flow-relevant fields of every IP packet in `batch`, in packet order; counts everything in `stats`."""
    stats.packets += len(batch)
    stats.bytes += int(batch.wirelen.sum())
    if vectorised:
        fast, slow_index = _decode_common(batch, stats)
    else:
        fast, slow_index = None, np.arange(len(batch))
    slow = _decode_one_by_one(batch, slow_index, decoder, stats, events)
    if fast is None or not len(slow):
        return fast if fast is not None else slow
    merged = PacketColumns.concatenate(batch.buffer, [fast, slow])
    return merged.take(np.argsort(merged.index, kind="stable"))


def _decode_one_by_one(batch, indices, decoder, stats, events) -> PacketColumns:
    buffer = batch.buffer
    offsets, caplen, wirelen = batch.offsets.tolist(), batch.caplen.tolist(), batch.wirelen.tolist()
    linktype, ts = batch.linktype.tolist(), batch.ts.tolist()
    kept, rows = [], []
    for i in indices.tolist():
        row = decoder.decode(buffer, offsets[i], caplen[i], wirelen[i], linktype[i], ts[i], stats, events)
        if row is not None:
            kept.append(i)
            rows.append(row)
    return PacketColumns.from_rows(buffer, kept, batch.ts[kept], rows)


def _link_layer(batch: FrameBatch, data: _Bytes):
    """Per frame: ethertype (or _SLOW / _UNKNOWN_LINK), L3 offset from frame start, MAC offsets."""
    n = len(batch)
    start, caplen = batch.offsets, batch.caplen
    ethertype = np.full(n, _UNKNOWN_LINK, dtype=np.int64)
    l3 = np.zeros(n, dtype=np.int64)
    smac_off = np.full(n, -1, dtype=np.int64)
    dmac_off = np.full(n, -1, dtype=np.int64)
    linktypes = np.unique(batch.linktype).tolist()
    for linktype in linktypes:
        rows = np.arange(n) if len(linktypes) == 1 else np.flatnonzero(batch.linktype == linktype)
        at, cap = start[rows], caplen[rows]
        if linktype == L.LINKTYPE_ETHERNET:
            ethertype[rows] = np.where(cap >= 14, data.be16(at + 12), _SLOW)
            l3[rows], dmac_off[rows], smac_off[rows] = 14, at, at + 6
        elif linktype == L.LINKTYPE_LINUX_SLL:
            ethertype[rows] = np.where(cap >= 16, data.be16(at + 14), _SLOW)
            l3[rows] = 16
            smac_off[rows] = np.where(data.be16(at + 4) == 6, at + 6, -1)
        elif linktype == L.LINKTYPE_LINUX_SLL2:
            ethertype[rows] = np.where(cap >= 20, data.be16(at), _SLOW)
            l3[rows] = 20
            smac_off[rows] = np.where(data.u8(at + 11) == 6, at + 12, -1)
        elif linktype == L.LINKTYPE_IPV4:
            ethertype[rows] = L.ETHERTYPE_IPV4
        elif linktype == L.LINKTYPE_IPV6:
            ethertype[rows] = L.ETHERTYPE_IPV6
        elif linktype in L.RAW_IP_LINKTYPES:
            version = data.u8(at) >> 4
            ethertype[rows] = np.where(cap < 1, _SLOW, np.where(
                version == 4, L.ETHERTYPE_IPV4, np.where(version == 6, L.ETHERTYPE_IPV6, _SLOW)))
        elif linktype in (L.LINKTYPE_NULL, L.LINKTYPE_LOOP):
            family = data.be32(at) if linktype == L.LINKTYPE_LOOP else data.le32(at)
            family = np.where(family > 0xFFFF, data.be32(at), family)
            ipv6 = np.isin(family, L.ADDRESS_FAMILIES_IPV6)
            ethertype[rows] = np.where(
                cap < 4, _SLOW, np.where(family == 2, L.ETHERTYPE_IPV4, np.where(ipv6, L.ETHERTYPE_IPV6, _SLOW)))
            l3[rows] = 4
    vlan = np.zeros(n, dtype=np.int64)
    for _ in range(2):  # 802.1Q, then the inner tag of QinQ; deeper stacks go one by one
        tagged = np.isin(ethertype, _VLAN)
        if not tagged.any():
            break
        complete = tagged & (caplen >= l3 + 4)
        tag_at = start + l3
        vlan = np.where(complete & (vlan == 0), data.be16(tag_at) & 0x0FFF, vlan)
        ethertype = np.where(complete, data.be16(tag_at + 2), np.where(tagged, _SLOW, ethertype))
        l3 = l3 + 4 * complete
    return ethertype, l3, vlan, smac_off, dmac_off


def _decode_common(batch: FrameBatch, stats: CaptureStats) -> tuple[PacketColumns, np.ndarray]:
    data = _Bytes(batch.buffer)
    start, caplen, wirelen = batch.offsets, batch.caplen, batch.wirelen
    ethertype, l3, vlan, smac_off, dmac_off = _link_layer(batch, data)
    is4 = (ethertype == L.ETHERTYPE_IPV4) & (caplen >= l3 + 20)
    is6 = (ethertype == L.ETHERTYPE_IPV6) & (caplen >= l3 + 40)
    ip_at = start + l3

    first = data.u8(ip_at)
    ihl = (first & 0x0F) * 4
    total4 = data.be16(ip_at + 2)
    ok4 = (is4 & (first >> 4 == 4) & (ihl >= 20) & (total4 >= ihl) & (l3 + total4 <= wirelen)
           & (caplen >= l3 + ihl) & ((data.be16(ip_at + 6) & 0x3FFF) == 0))
    payload6 = data.be16(ip_at + 4)
    ok6 = is6 & (first >> 4 == 6) & (l3 + 40 + payload6 <= wirelen)
    proto = np.where(is6, data.u8(ip_at + 6), data.u8(ip_at + 9))
    l4 = l3 + np.where(ok6, 40, ihl)
    l4len = np.where(ok6, payload6, total4 - ihl)
    iplen = np.where(ok6, payload6 + 40, total4)

    tcp = (proto == L.PROTO_TCP) & (caplen >= l4 + L.TCP_HEADER) & (l4len >= L.TCP_HEADER)
    l4_at = start + l4
    tcp_header = (data.u8(l4_at + 12) >> 4) * 4
    tcp &= (tcp_header >= L.TCP_HEADER) & (tcp_header <= l4len)
    udp = (proto == L.PROTO_UDP) & (caplen >= l4 + L.UDP_HEADER) & (l4len >= L.UDP_HEADER)
    icmp = (((proto == L.PROTO_ICMP) & ok4) | ((proto == L.PROTO_ICMPV6) & ok6)) & (
        caplen >= l4 + L.ICMP_HEADER) & (l4len >= L.ICMP_HEADER)
    fast = (ok4 | ok6) & (tcp | udp | icmp)
    # Link-layer protocols other than IP and ARP, and unknown link types: counted, not decoded.
    ignored = (ethertype == _UNKNOWN_LINK) | (
        (ethertype >= 0) & (ethertype != L.ETHERTYPE_IPV4) & (ethertype != L.ETHERTYPE_IPV6)
        & (ethertype != L.ETHERTYPE_ARP) & ~np.isin(ethertype, _VLAN))
    slow_index = np.flatnonzero(~fast & ~ignored)

    rows = np.flatnonzero(fast)
    stats.decoded += len(rows)
    v6 = ok6[rows]
    at, l4_at, l4len = start[rows], l4_at[rows], l4len[rows]
    tcp, icmp = tcp[rows], icmp[rows]
    ports = data.be32(l4_at)
    icmp_type, icmp_code = ports >> 24, (ports >> 16) & 0xFF
    counterpart = np.where(v6, L.ICMPV6_COUNTERPART[icmp_type], L.ICMP_COUNTERPART[icmp_type])
    header = np.where(tcp, tcp_header[rows], np.where(icmp, np.minimum(L.ICMP_PAYLOAD_START, l4len),
                                                       L.UDP_HEADER))
    pay_off = l4_at + header
    src_hi, src_lo, dst_hi, dst_lo = _addresses(data, ip_at[rows], v6)
    columns = PacketColumns(
        buffer=batch.buffer,
        index=rows,
        ts=batch.ts[rows],
        src_hi=src_hi,
        src_lo=src_lo,
        dst_hi=dst_hi,
        dst_lo=dst_lo,
        sport=np.where(icmp, icmp_type, ports >> 16),
        dport=np.where(icmp, np.where(counterpart >= 0, counterpart, icmp_code), ports & 0xFFFF),
        proto=proto[rows],
        v6=v6,
        vlan=vlan[rows],
        iplen=iplen[rows],
        paylen=l4len - header,
        flags=np.where(tcp, data.u8(l4_at + 13), 0),
        icmp_code=np.where(icmp, icmp_code, 0),
        smac_off=smac_off[rows],
        dmac_off=dmac_off[rows],
        pay_off=pay_off,
        pay_cap=np.maximum(0, np.minimum(l4_at + l4len, at + caplen[rows]) - pay_off),
        seq=_sequence_numbers(data, l4_at, tcp & (l4len > header)),
    )
    return columns, slow_index


def _sequence_numbers(data: _Bytes, l4_at: np.ndarray, carries: np.ndarray) -> np.ndarray:
    """TCP sequence numbers of the segments that carry payload (the only ones they are read for)."""
    seq = np.zeros(len(l4_at), dtype=np.int64)
    rows = np.flatnonzero(carries)
    seq[rows] = data.be32(l4_at[rows] + 4)
    return seq


def _addresses(data: _Bytes, ip_at: np.ndarray, v6: np.ndarray):
    src_hi = np.zeros(len(ip_at), dtype=np.uint64)
    dst_hi = np.zeros(len(ip_at), dtype=np.uint64)
    src_lo = (data.be32(ip_at + 12) | L.IPV4_MAPPED).astype(np.uint64)
    dst_lo = (data.be32(ip_at + 16) | L.IPV4_MAPPED).astype(np.uint64)
    if v6.any():
        rows = np.flatnonzero(v6)
        src_hi[rows], src_lo[rows] = data.be128(ip_at[rows] + 8)
        dst_hi[rows], dst_lo[rows] = data.be128(ip_at[rows] + 24)
    return src_hi, src_lo, dst_hi, dst_lo
