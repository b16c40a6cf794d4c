"""Reading capture files (pcap and pcapng) into batches of frames, without libpcap."""

from sensor.pcap.batch import Frame, FrameBatch
from sensor.pcap.reader import CaptureFile, CaptureFormatError

__all__ = ["CaptureFile", "CaptureFormatError", "Frame", "FrameBatch"]
