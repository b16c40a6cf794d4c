"""The per-packet decoder: every frame the vectorised decoder does not take (ARP, fragments, IPv6 extension
headers, rare link layers and protocols, anything short or odd) comes through here.

It also defines the meaning of every decoded field: the vectorised decoder must give the same answer for
the packets it takes, and a test holds the two to that. No input raises out of `decode`: a frame we cannot
make sense of is counted as malformed and dropped.
"""

from __future__ import annotations

import socket
import struct
from collections import OrderedDict

from sensor.decode import layers as L
from sensor.records import ArpEvent, CaptureStats

_be16 = struct.Struct(">H").unpack_from
_be32 = struct.Struct(">I").unpack_from
_le32 = struct.Struct("<I").unpack_from
_ipv4_fields = struct.Struct(">BxHHHxB").unpack_from  # version/ihl, total length, id, flags/offset, proto
_ipv6_fields = struct.Struct(">IHBx").unpack_from  # version/class/label, payload length, next header
_addr128 = struct.Struct(">QQ").unpack_from
_arp_fields = struct.Struct(">HHBBH6s4s6s4s").unpack_from

FRAGMENT_MEMORY = 4096  # first fragments remembered so later fragments of the datagram find their ports


class Malformed(Exception):
    """A frame that claims more than it holds."""


class PacketDecoder:
    def __init__(self) -> None:
        # (src, dst, proto, ip id) of a fragmented datagram -> its ports; bounded, oldest dropped first.
        self._fragment_ports: OrderedDict[tuple, tuple[int, int, int]] = OrderedDict()

    def decode(self, buffer, start: int, caplen: int, wirelen: int, linktype: int, ts: float,
               stats: CaptureStats, events: list) -> tuple | None:
        """Decodes one frame into a DECODED_FIELDS tuple if it belongs to a flow; counts it in `stats`."""
        try:
            return self._decode(buffer, start, start + caplen, start + wirelen, linktype, ts, stats, events)
        except (Malformed, struct.error, IndexError, ValueError):
            stats.malformed += 1
            return None

    def _decode(self, buffer, start, end, wire_end, linktype, ts, stats, events):
        link = self._link_layer(buffer, start, end, linktype)
        if link is None:
            return None
        ethertype, l3, vlan, smac, dmac = link
        if ethertype == L.ETHERTYPE_IPV4:
            packet = self._ipv4(buffer, l3, end, wire_end, stats)
        elif ethertype == L.ETHERTYPE_IPV6:
            packet = self._ipv6(buffer, l3, end, wire_end, stats)
        elif ethertype == L.ETHERTYPE_ARP:
            self._arp(buffer, l3, end, ts, smac, events)
            stats.decoded += 1
            return None
        else:
            return None  # a link-layer protocol we do not look into: neither decoded nor malformed
        stats.decoded += 1
        if packet is None:
            return None
        (src_hi, src_lo, dst_hi, dst_lo, sport, dport, proto, v6, iplen, paylen, flags, code, pay_off, pay_end,
         seq) = packet
        pay_cap = max(0, min(pay_end, end) - pay_off)
        return (src_hi, src_lo, dst_hi, dst_lo, sport, dport, proto, v6, vlan, iplen, paylen, flags, code,
                smac, dmac, pay_off, pay_cap, seq)

    def _link_layer(self, buffer, start, end, linktype):
        """(ethertype, L3 offset, outer VLAN id, src MAC offset, dst MAC offset), None for an unknown link."""
        smac = dmac = -1
        if linktype == L.LINKTYPE_ETHERNET:
            _need(start + 14, end)
            dmac, smac = start, start + 6
            ethertype, l3 = _be16(buffer, start + 12)[0], start + 14
        elif linktype == L.LINKTYPE_LINUX_SLL:
            _need(start + 16, end)
            if _be16(buffer, start + 4)[0] == 6:
                smac = start + 6
            ethertype, l3 = _be16(buffer, start + 14)[0], start + 16
        elif linktype == L.LINKTYPE_LINUX_SLL2:
            _need(start + 20, end)
            if buffer[start + 11] == 6:
                smac = start + 12
            ethertype, l3 = _be16(buffer, start)[0], start + 20
        elif linktype in L.RAW_IP_LINKTYPES:
            _need(start + 1, end)
            version = buffer[start] >> 4
            ethertype = L.ETHERTYPE_IPV4 if version == 4 else L.ETHERTYPE_IPV6 if version == 6 else -1
            if ethertype < 0:
                raise Malformed
            l3 = start
        elif linktype == L.LINKTYPE_IPV4:
            ethertype, l3 = L.ETHERTYPE_IPV4, start
        elif linktype == L.LINKTYPE_IPV6:
            ethertype, l3 = L.ETHERTYPE_IPV6, start
        elif linktype in (L.LINKTYPE_NULL, L.LINKTYPE_LOOP):
            _need(start + 4, end)
            family = _be32(buffer, start)[0] if linktype == L.LINKTYPE_LOOP else _le32(buffer, start)[0]
            if family > 0xFFFF:  # written on a host of the other byte order
                family = _be32(buffer, start)[0]
            ethertype = (L.ETHERTYPE_IPV4 if family == 2 else
                         L.ETHERTYPE_IPV6 if family in L.ADDRESS_FAMILIES_IPV6 else -1)
            if ethertype < 0:
                return None
            l3 = start + 4
        else:
            return None
        vlan = 0
        while ethertype in L.VLAN_ETHERTYPES:
            _need(l3 + 4, end)
            if not vlan:
                vlan = _be16(buffer, l3)[0] & 0x0FFF
            ethertype, l3 = _be16(buffer, l3 + 2)[0], l3 + 4
        return ethertype, l3, vlan, smac, dmac

    def _ipv4(self, buffer, l3, end, wire_end, stats):
        _need(l3 + 20, end)
        version_ihl, total, ident, fragment, proto = _ipv4_fields(buffer, l3)
        ihl = (version_ihl & 0x0F) * 4
        if version_ihl >> 4 != 4 or ihl < 20 or total < ihl or l3 + total > wire_end:
            raise Malformed
        _need(l3 + ihl, end)
        src, dst = _be32(buffer, l3 + 12)[0], _be32(buffer, l3 + 16)[0]
        src_hi, src_lo, dst_hi, dst_lo = 0, L.IPV4_MAPPED | src, 0, L.IPV4_MAPPED | dst
        addresses = (src_hi, src_lo, dst_hi, dst_lo)
        more, offset = fragment & 0x2000, fragment & 0x1FFF
        l4, l4len = l3 + ihl, total - ihl
        if more or offset:
            stats.fragments += 1
            fragment_key = (src, dst, proto, ident)
            if offset:
                return self._later_fragment(fragment_key, addresses, proto, False, total, l4, l4len)
            packet = self._transport(buffer, l4, l4len, end, proto, False, addresses, total)
            self._remember_fragment(fragment_key, packet)
            return packet
        return self._transport(buffer, l4, l4len, end, proto, False, addresses, total)

    def _ipv6(self, buffer, l3, end, wire_end, stats):
        _need(l3 + 40, end)
        first_word, payload_length, next_header = _ipv6_fields(buffer, l3)
        if first_word >> 28 != 6 or l3 + 40 + payload_length > wire_end:
            raise Malformed
        addresses = _addr128(buffer, l3 + 8) + _addr128(buffer, l3 + 24)
        iplen = 40 + payload_length
        position, remaining = l3 + 40, payload_length
        fragment_key = None
        while next_header in L.IPV6_EXTENSIONS:
            _need(position + 8, end)
            header = next_header
            next_header = buffer[position]
            size = (8 if header == L.IPV6_FRAGMENT else
                    (buffer[position + 1] + 2) * 4 if header == L.IPV6_AUTH else
                    (buffer[position + 1] + 1) * 8)
            if size > remaining:
                raise Malformed
            if header == L.IPV6_FRAGMENT:
                offset_field, ident = _be16(buffer, position + 2)[0], _be32(buffer, position + 4)[0]
                if offset_field & 0xFFF9:  # an offset or "more fragments": a real fragment, not an atomic one
                    stats.fragments += 1
                    fragment_key = (addresses, next_header, ident)
                    if offset_field >> 3:
                        return self._later_fragment(fragment_key, addresses, next_header, True, iplen,
                                                    position + size, remaining - size)
            position, remaining = position + size, remaining - size
        packet = self._transport(buffer, position, remaining, end, next_header, True, addresses, iplen)
        if fragment_key is not None:
            self._remember_fragment(fragment_key, packet)
        return packet

    def _transport(self, buffer, l4, l4len, end, proto, v6, addresses, iplen):
        sport = dport = flags = code = seq = 0
        header = 0
        if proto == L.PROTO_TCP:
            _need(l4 + L.TCP_HEADER, end)
            header = (buffer[l4 + 12] >> 4) * 4
            if l4len < L.TCP_HEADER or header < L.TCP_HEADER or header > l4len:
                raise Malformed
            sport, dport = _be16(buffer, l4)[0], _be16(buffer, l4 + 2)[0]
            flags = buffer[l4 + 13]
            seq = int.from_bytes(buffer[l4 + 4 : l4 + 8], "big") if l4len > header else 0
        elif proto == L.PROTO_UDP:
            _need(l4 + L.UDP_HEADER, end)
            if l4len < L.UDP_HEADER:
                raise Malformed
            header = L.UDP_HEADER
            sport, dport = _be16(buffer, l4)[0], _be16(buffer, l4 + 2)[0]
        elif proto == (L.PROTO_ICMPV6 if v6 else L.PROTO_ICMP):
            _need(l4 + L.ICMP_HEADER, end)
            if l4len < L.ICMP_HEADER:
                raise Malformed
            header = min(L.ICMP_PAYLOAD_START, l4len)
            code = buffer[l4 + 1]
            sport, dport = L.icmp_key_ports(buffer[l4], code, v6)
        return (*addresses, sport, dport, proto, v6, iplen, l4len - header, flags, code, l4 + header, l4 + l4len,
                seq)

    def _remember_fragment(self, key: tuple, packet: tuple) -> None:
        self._fragment_ports[key] = (packet[4], packet[5], packet[11])
        if len(self._fragment_ports) > FRAGMENT_MEMORY:
            self._fragment_ports.popitem(last=False)

    def _later_fragment(self, key, addresses, proto, v6, iplen, l4, l4len):
        """A fragment past the first joins the flow of its first fragment, if we saw that one."""
        ports = self._fragment_ports.get(key)
        if ports is None:
            return None
        sport, dport, code = ports
        return (*addresses, sport, dport, proto, v6, iplen, l4len, 0, code, l4, l4 + l4len, 0)

    def _arp(self, buffer, l3, end, ts, link_src_mac_at, events):
        _need(l3 + 8, end)
        if buffer[l3 + 4] != 6 or buffer[l3 + 5] != 4:  # not Ethernet/IPv4 ARP: nothing we report on
            return
        _need(l3 + 28, end)
        _, _, _, _, op, sender_mac, sender_ip, target_mac, target_ip = _arp_fields(buffer, l3)
        sender = socket.inet_ntoa(sender_ip)
        events.append(ArpEvent(
            ts=ts, src_ip=sender, dst_ip=socket.inet_ntoa(target_ip), proto="ARP",
            src_mac=(buffer[link_src_mac_at : link_src_mac_at + 6] if link_src_mac_at >= 0 else sender_mac).hex(":"),
            op=op, sender_mac=sender_mac.hex(":"), sender_ip=sender,
            target_mac=target_mac.hex(":"), target_ip=socket.inet_ntoa(target_ip),
        ))


def _need(position: int, end: int) -> None:
    if position > end:
        raise Malformed
