"""Packet counts from wiretap (the reader under tshark and capinfos), to hold `sensor read`'s counts against."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

from sensor.pcap import CaptureFormatError
from sensor.pipeline import Pipeline

# Where our count and wiretap's differ on purpose: the file, and why ours is the reading we keep.
WIRETAP_DIFFERS = {
    "suricata-verify/bug-6875-01/fuzz.pcap": (
        "a fuzzed file: its second record header claims a 16 MiB frame. wiretap's heuristics then re-read the "
        "file as a 'modified' pcap variant with longer record headers, which yields a misaligned first frame "
        "(source MAC 45:00:00:ae:11:16, i.e. IP header bytes) and a garbage second one; we keep the standard "
        "record chain, read its one real frame and report the corrupt header"
    ),
}
# Traces wiretap calls damaged (cut short, or a record header claiming a frame larger than it allows).
DAMAGED_TRACES = (
    "suricata-verify/bug-1450-04/tls_DER-incomplete-header.pcap",
    "suricata-verify/bug-1450-05/tls_DER-incomplete-content.pcap",
    "suricata-verify/bug-6875-01/fuzz.pcap",
    "suricata-verify/http-mime-truncated/input.pcap",
    "suricata-verify/pgsql/pgsql-5000-query-results/input.pcap",
    "suricata-verify/smtp-to-comma/10.7.29.101_49898-178.63.41.150_25.pcap",
)


def capinfos_count(path: Path) -> tuple[int | None, str]:
    """Packets wiretap reads, and its complaint if it stopped early."""
    result = subprocess.run(["capinfos", "-c", "-T", "-r", "-M", str(path)], capture_output=True, text=True)
    complaint = " ".join(result.stderr.split())
    row = result.stdout.strip().split("\t")
    if row and row[-1].isdigit():
        return int(row[-1]), complaint
    early = re.search(r"after reading (\d+) packets", complaint)
    return (int(early.group(1)) if early else None), complaint


def tshark_count(path: Path) -> int:
    result = subprocess.run(["tshark", "-r", str(path), "-T", "fields", "-e", "frame.number"],
                            capture_output=True, text=True)
    return len(result.stdout.splitlines())


def sensor_count(path: Path) -> tuple[int | None, list[str]]:
    """Packets `sensor read` counts (None: not a capture), and what its reader said it skipped."""
    pipeline = Pipeline(extractor=None)
    try:
        problems = pipeline.feed_file(path)
    except CaptureFormatError as error:
        return None, [str(error)]
    return pipeline.close().stats.packets, problems
