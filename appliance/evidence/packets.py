"""The packet store on the box: one ring of sealed pcap segments per sensor (sensor/packets/ring.py), and the
packets of an alert's or an incident's flows cut out of it as one standard pcap file.

The segments are sealed with a key derived from the store's key, so they open only where the database opens.
An alert's flows are the evidence flows its decision traces name (the 5-tuple and span of each, and the sensor
that saw it); a packet belongs to a flow when its protocol, addresses and ports are the flow's (either way round;
ICMP by addresses alone, its "ports" being message types) and its time is within the flow's span widened by
`padding` seconds on each side.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
import shutil
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path

import msgspec
import numpy as np

from appliance.box_identity import box_id, signing_key
from appliance.evidence import retention
from appliance.store.data_dir import DataDirectory
from appliance.store.database import Store
from appliance.traces import chain
from sensor.decode import layers as L
from sensor.decode.packet import PacketDecoder
from sensor.decode.vectorised import decode_batch
from sensor.packets.pcap_writer import file_header, records
from sensor.packets.ring import PacketRing, SegmentCipher, list_segments, read_segment, read_status
from sensor.pcap.batch import FrameBatch
from sensor.pcap.classic import ClassicPcap
from sensor.records import CaptureStats
from sensor.shipping.spool_cipher import write_key_file

KEY_PURPOSE = "packet store"
PACKETS_OUTCOME = "packets_downloaded"  # a decision trace that names a pcap handed out for the alert
MAX_PADDING_S = 300
SAFE_NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]{0,63}$")
PROTOCOL_NUMBERS = {name: number for number, name in L.PROTO_NAMES.items()}
PORTLESS = {L.PROTO_ICMP, L.PROTO_ICMPV6}
BATCH_PACKETS = 65536


class PacketFlow(msgspec.Struct, frozen=True):
    """One flow whose packets are asked for, as a decision trace names it."""

    agent_id: str
    proto: str
    src_ip: str
    src_port: int
    dst_ip: str
    dst_port: int
    ts_start: float
    ts_end: float


class Extract(msgspec.Struct):
    pcap: bytes
    packets: int
    flows: int
    sha256: str


def file_name(identifier: str) -> str:
    """The id itself when it is a plain file name (never a dot file), else its digest."""
    return identifier if SAFE_NAME.match(identifier) else "sha256-" + hashlib.sha256(identifier.encode()).hexdigest()


def ring_directory(store: Store, agent_id: str) -> Path:
    return store.data_dir.packets / file_name(agent_id)


def open_ring(store: Store, agent_id: str) -> PacketRing:
    """The sensor's ring within the budget the admin set (`retention` settings)."""
    settings = retention.load_settings(store)
    return PacketRing(ring_directory(store, agent_id), store.derived_key(KEY_PURPOSE), agent_id,
                      max_bytes=settings.packets_max_mb * 1024 * 1024,
                      max_disk_share=settings.evidence_disk_percent / 100)


class RingStatus(msgspec.Struct):
    """One sensor's packet ring as it last described itself."""

    agent_id: str  # the ring's directory name: the sensor's id, or its digest when the id is not a file name
    segments: int
    bytes: int
    packets_stored: int
    packets_dropped: int
    segments_pruned: int
    segments_shed: int
    full: bool
    message: str


class PacketStoreStatus(msgspec.Struct):
    disk_bytes: int
    disk_free_bytes: int
    full: bool
    """A ring found the disk full at its last write (it shed its oldest packets, or dropped new ones)."""
    sensors: list[RingStatus]


def store_status(data_dir: DataDirectory) -> PacketStoreStatus:
    """What every ring on the box last said (no key needed: the status holds counts, never packets)."""
    rings = []
    directories = sorted(path for path in data_dir.packets.iterdir() if path.is_dir()) if data_dir.packets.is_dir() \
        else []
    for directory in directories:
        stats = read_status(directory)
        if stats is not None:
            rings.append(RingStatus(agent_id=directory.name, segments=stats.segments, bytes=stats.bytes,
                                    packets_stored=stats.packets_stored, packets_dropped=stats.packets_dropped,
                                    segments_pruned=stats.segments_pruned, segments_shed=stats.segments_shed,
                                    full=stats.full, message=stats.last_error))
    usage = shutil.disk_usage(data_dir.root)
    return PacketStoreStatus(disk_bytes=usage.total, disk_free_bytes=usage.free,
                             full=any(ring.full for ring in rings), sensors=rings)


def sensor_arguments(store: Store, agent_id: str) -> list[str]:
    """`sensor capture|read` options that make a sensor process on the box write into the box's packet store: its
    ring's directory, and the store's derived key in a key file in the runtime directory (tmpfs: never on the
    data disk, gone when the box stops)."""
    key_file = store.data_dir.runtime / "packets.key"
    write_key_file(key_file, store.derived_key(KEY_PURPOSE))
    settings = retention.load_settings(store)
    return ["--agent-id", agent_id, "--packet-store", str(ring_directory(store, agent_id)),
            "--packet-store-key-file", str(key_file), "--packet-store-mb", str(settings.packets_max_mb)]


def alert_flows(store: Store, alert_ids: Iterable[str]) -> list[PacketFlow]:
    """The evidence flows of every decision trace of the alerts, each once."""
    flows: dict[tuple, PacketFlow] = {}
    for alert_id in alert_ids:
        for row in store.query("SELECT content FROM decision_traces WHERE alert_id = ? ORDER BY seq", (alert_id,)):
            content = json.loads(row["content"])
            agent_id = content.get("batch", {}).get("agent_id", "")
            for flow in content.get("evidence_flows", []):
                packet_flow = PacketFlow(agent_id=agent_id, proto=flow["proto"], src_ip=flow["src_ip"],
                                         src_port=flow.get("src_port", 0), dst_ip=flow["dst_ip"],
                                         dst_port=flow.get("dst_port", 0), ts_start=flow["ts_start"],
                                         ts_end=flow["ts_end"])
                flows[(agent_id, flow["uid"], packet_flow.ts_start)] = packet_flow
    return list(flows.values())


def record_download(store: Store, alert_ids: list[str], extract: Extract, padding: float, username: str) -> None:
    """Each alert's decision trace chain gets an entry naming the pcap handed out (its SHA-256, packets, flows),
    under a fresh signed checkpoint: the alert's proof trails (and the reports' evidence) then vouch for the file."""
    key, box = signing_key(store), box_id(store)
    with store.write_transaction() as connection:
        for alert_id in alert_ids:
            rows = connection.execute(
                "SELECT rule_name, coalesce(incident_key, ''), source_ip, coalesce(dest_ip, ''), severity FROM alerts "
                "WHERE id = ?", (alert_id,)).fetchall()
            if not rows:
                continue
            rule_name, incident_key, source_ip, dest_ip, severity = rows[0]
            chain.append(connection, {
                "outcome": PACKETS_OUTCOME, "rule_name": rule_name, "incident_key": incident_key,
                "alert_id": alert_id, "source_ip": source_ip, "dest_ip": dest_ip, "severity": severity,
                "packets": {"pcap_sha256": extract.sha256, "packets": extract.packets, "flows": extract.flows,
                            "padding_s": padding, "downloaded_by": username},
            })
        chain.checkpoint(connection, key, box)


def extract(store: Store, flows: list[PacketFlow], padding: float) -> Extract:
    """The flows' packets as one classic pcap file, sensor by sensor, each in capture order."""
    by_agent: dict[str, list[PacketFlow]] = defaultdict(list)
    for flow in flows:
        by_agent[flow.agent_id].append(flow)
    key = store.derived_key(KEY_PURPOSE)
    linktype, parts, packets = None, [], 0
    for agent_id, agent_flows in sorted(by_agent.items()):
        cipher = SegmentCipher(key, agent_id)
        for batch, rows in _matching(ring_directory(store, agent_id), cipher, agent_flows, padding):
            batch_linktype = int(batch.linktype[0])
            linktype = batch_linktype if linktype is None else linktype
            if batch_linktype != linktype:  # one pcap file, one link type: a sensor on another kind of link is left out
                continue
            parts.append(records(batch, rows))
            packets += len(rows)
    pcap = file_header(linktype if linktype is not None else L.LINKTYPE_ETHERNET) + b"".join(parts)
    return Extract(pcap=pcap, packets=packets, flows=len(flows), sha256=hashlib.sha256(pcap).hexdigest())


def counted(pcap: bytes, flows: int) -> Extract:
    """An Extract of a pcap file written earlier (a legal hold's copy)."""
    reader = ClassicPcap(pcap)
    return Extract(pcap=pcap, packets=sum(len(batch) for batch in reader.batches(BATCH_PACKETS)), flows=flows,
                   sha256=hashlib.sha256(pcap).hexdigest())


def _matching(directory: Path, cipher: SegmentCipher, flows: list[PacketFlow],
              padding: float) -> Iterator[tuple[FrameBatch, np.ndarray]]:
    since = min(flow.ts_start for flow in flows) - padding
    until = max(flow.ts_end for flow in flows) + padding
    keys = [_FlowKey(flow, padding) for flow in flows]
    for segment in list_segments(directory):
        if not segment.overlaps(since, until) or (pcap := read_segment(segment, cipher)) is None:
            continue
        reader = ClassicPcap(pcap)
        for batch in reader.batches(BATCH_PACKETS):
            columns = decode_batch(batch, PacketDecoder(), CaptureStats(), [])
            selected = np.zeros(len(columns), dtype=bool)
            for flow_key in keys:
                selected |= flow_key.matches(columns)
            if selected.any():
                yield batch, columns.index[selected]


class _FlowKey:
    """A flow's fields as the decoder's columns hold them (addresses as two 64-bit halves, IPv4 mapped)."""

    def __init__(self, flow: PacketFlow, padding: float) -> None:
        self.proto = PROTOCOL_NUMBERS.get(flow.proto) or int(flow.proto)
        self.src = _halves(flow.src_ip)
        self.dst = _halves(flow.dst_ip)
        self.ports = None if self.proto in PORTLESS else (flow.src_port, flow.dst_port)
        self.since, self.until = flow.ts_start - padding, flow.ts_end + padding

    def matches(self, c) -> np.ndarray:
        mask = (c.proto == self.proto) & (c.ts >= self.since) & (c.ts <= self.until)
        forward = (c.src_hi == self.src[0]) & (c.src_lo == self.src[1]) & (c.dst_hi == self.dst[0]) & (
            c.dst_lo == self.dst[1])
        backward = (c.src_hi == self.dst[0]) & (c.src_lo == self.dst[1]) & (c.dst_hi == self.src[0]) & (
            c.dst_lo == self.src[1])
        if self.ports is not None:
            forward &= (c.sport == self.ports[0]) & (c.dport == self.ports[1])
            backward &= (c.sport == self.ports[1]) & (c.dport == self.ports[0])
        return mask & (forward | backward)


def _halves(ip: str) -> tuple[int, int]:
    address = ipaddress.ip_address(ip)
    value = int(address) if address.version == 6 else int(ipaddress.IPv6Address(f"::ffff:{ip}"))
    return value >> 64, value & 0xFFFFFFFFFFFFFFFF
