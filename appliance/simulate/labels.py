"""Ground truth written beside each capture (FILE.labels.json), so precision and recall can be computed."""

from __future__ import annotations

from pathlib import Path

import msgspec


class Label(msgspec.Struct, kw_only=True):
    """One injected attack: who did it, to whom, and the time window its packets fall in."""

    rule_name: str  # the PRODUCT.md detection this attack should raise
    source_ip: str
    dest_ip: str | None  # None when the attack has no single target (sweeps, floods of broadcasts)
    port: int | None
    start_ts: float
    end_ts: float
    variant: str
    source_mac: str | None = None  # for the layer-2 attacks (ARP spoofing, DHCP starvation, new device)


def labels_path(pcap_path: Path) -> Path:
    return pcap_path.with_name(pcap_path.name.removesuffix(".pcap") + ".labels.json")


def indicators_path(pcap_path: Path) -> Path:
    return pcap_path.with_name(pcap_path.name.removesuffix(".pcap") + ".indicators.txt")


def write_labels(path: Path, labels: list[Label]) -> None:
    path.write_bytes(msgspec.json.format(msgspec.json.encode(labels), indent=2) + b"\n")


def read_labels(path: Path) -> list[Label]:
    return msgspec.json.decode(path.read_bytes(), type=list[Label])


def write_indicators(path: Path, indicators: list[str] | tuple[str, ...]) -> None:
    """The indicator list an attack matches, in the format `load_threat_intel` reads."""
    path.write_text("# indicators of compromise, one IP or domain per line\n" + "".join(f"{v}\n" for v in indicators))
