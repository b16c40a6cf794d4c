"""The oracle for capture filter tests: which frames `tcpdump -r FILE EXPR` keeps, from libpcap's offline filter.

A dead Ethernet handle and libpcap's userspace BPF interpreter (`pcap_offline_filter`), loaded here through
ctypes on its own: none of the path under test (the live handle, the copy into the kernel's layout,
SO_ATTACH_FILTER, the kernel running it) is on this one.
"""

from __future__ import annotations

import ctypes
import ctypes.util

DLT_EN10MB = 1
SNAPLEN = 0x40000
PCAP_NETMASK_UNKNOWN = 0xFFFFFFFF


class _BpfProgram(ctypes.Structure):
    _fields_ = [("bf_len", ctypes.c_uint), ("bf_insns", ctypes.c_void_p)]


class _PacketHeader(ctypes.Structure):
    _fields_ = [("ts_sec", ctypes.c_long), ("ts_usec", ctypes.c_long), ("caplen", ctypes.c_uint32),
                ("len", ctypes.c_uint32)]  # fmt: skip


def tcpdump_keeps(expression: str, frames: list[bytes]) -> list[bytes]:
    """The frames libpcap's offline filtering of `expression` passes, in order."""
    pcap = ctypes.CDLL(ctypes.util.find_library("pcap"))
    pcap.pcap_open_dead.restype = ctypes.c_void_p
    pcap.pcap_open_dead.argtypes = [ctypes.c_int, ctypes.c_int]
    pcap.pcap_compile.argtypes = [
        ctypes.c_void_p, ctypes.POINTER(_BpfProgram), ctypes.c_char_p, ctypes.c_int, ctypes.c_uint32,
    ]  # fmt: skip
    pcap.pcap_geterr.restype = ctypes.c_char_p
    pcap.pcap_geterr.argtypes = [ctypes.c_void_p]
    pcap.pcap_offline_filter.argtypes = [ctypes.POINTER(_BpfProgram), ctypes.POINTER(_PacketHeader), ctypes.c_char_p]
    pcap.pcap_freecode.argtypes = [ctypes.POINTER(_BpfProgram)]
    pcap.pcap_close.argtypes = [ctypes.c_void_p]

    handle = pcap.pcap_open_dead(DLT_EN10MB, SNAPLEN)
    program = _BpfProgram()
    try:
        if pcap.pcap_compile(handle, ctypes.byref(program), expression.encode(), 1, PCAP_NETMASK_UNKNOWN) != 0:
            raise ValueError(pcap.pcap_geterr(handle).decode())
        kept = []
        for frame in frames:
            header = _PacketHeader(0, 0, len(frame), len(frame))
            if pcap.pcap_offline_filter(ctypes.byref(program), ctypes.byref(header), frame):
                kept.append(frame)
        pcap.pcap_freecode(ctypes.byref(program))
        return kept
    finally:
        pcap.pcap_close(handle)
