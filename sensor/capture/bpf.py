"""Classic BPF socket filters: tcpdump's filter language compiled by libpcap itself, or raw instructions.

`compile_filter` hands an expression to libpcap (through ctypes) exactly as `tcpdump -i IFACE EXPR` would,
so every filter an admin knows from tcpdump works: `net 10.0.0.0/8`, `vlan and host 10.1.2.3`,
`portrange 8000-8100`, `tcp[tcpflags] & tcp-syn != 0`, ... A bad expression raises FilterError with
libpcap's own message. A raw list of `(code, jt, jf, k)` instructions (e.g. from `tcpdump -dd`) can be
attached just the same.

libpcap compiles on a handle activated on the capture interface, not on a "dead" one: the Linux kernel
moves an 802.1Q tag out of the frame into packet metadata before socket filters run, and only for a live
handle does libpcap know that and compile `vlan` to the kernel's metadata loads (SKF_AD_VLAN_TAG_PRESENT)
instead of a tag in the frame that the filter never sees. Activating needs what capture needs anyway
(CAP_NET_RAW, the interface up); the handle is closed as soon as the program is copied out.

The kernel runs the filter before a packet is copied to the capture ring, so unwanted traffic costs no
ring space and no Python time.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import socket

Instruction = tuple[int, int, int, int]  # (code, jt, jf, k) as in struct sock_filter

SO_ATTACH_FILTER = 26
SNAPLEN = 0x40000  # tcpdump's default: the compiled program keeps whole packets up to 256 KiB
PCAP_NETMASK_UNKNOWN = 0xFFFFFFFF
PCAP_ERRBUF_SIZE = 256
HANDLE_BUFFER_BYTES = 1 << 16  # the compiling handle's ring: it never reads a packet, so keep it small

# pcap LINKTYPE_* of the capture socket -> the DLT_* libpcap must compile for on that interface.
DLT_BY_LINKTYPE = {
    1: 1,  # Ethernet
    101: 12,  # LINKTYPE_RAW (tun, wireguard) is DLT_RAW on Linux
}


class FilterError(ValueError):
    """The filter expression or instruction list is not valid; the message says why (libpcap's words)."""


class _SockFilter(ctypes.Structure):
    """struct sock_filter (<linux/filter.h>), the same layout as libpcap's struct bpf_insn."""

    _fields_ = [
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    ]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


class _BpfProgram(ctypes.Structure):
    """libpcap's struct bpf_program."""

    _fields_ = [("bf_len", ctypes.c_uint), ("bf_insns", ctypes.POINTER(_SockFilter))]


def compile_filter(expression: str, iface: str, linktype: int) -> list[Instruction]:
    """Compile a tcpdump filter expression for capture on `iface`, whose socket sees `linktype` frames."""
    pcap = _libpcap()
    handle = _activated_handle(pcap, iface)
    try:
        dlt = pcap.pcap_datalink(handle)
        if DLT_BY_LINKTYPE.get(linktype) != dlt:
            raise FilterError(
                f"libpcap compiles filters for {iface!r} as link type DLT {dlt} while capture sees "
                f"link type {linktype}; pass raw BPF instructions instead"
            )
        program = _BpfProgram()
        netmask = _netmask(pcap, iface)
        if pcap.pcap_compile(handle, ctypes.byref(program), expression.encode(), 1, netmask) != 0:
            raise FilterError(f"bad capture filter {expression!r}: {_error_of(pcap, handle)}")
        try:
            return [(i.code, i.jt, i.jf, i.k) for i in program.bf_insns[: program.bf_len]]
        finally:
            pcap.pcap_freecode(ctypes.byref(program))
    finally:
        pcap.pcap_close(handle)


def attach_filter(sock: socket.socket, instructions: list[Instruction]) -> None:
    """Attach a classic BPF program to a socket (SO_ATTACH_FILTER); raises OSError if the kernel refuses."""
    if not 0 < len(instructions) <= 4096:
        raise FilterError(f"a BPF program needs 1..4096 instructions, got {len(instructions)}")
    program = (_SockFilter * len(instructions))()
    for slot, instruction in zip(program, instructions, strict=True):
        code, jt, jf, k = _checked_instruction(instruction)
        slot.code, slot.jt, slot.jf, slot.k = code, jt, jf, k
    fprog = _SockFprog(len(instructions), ctypes.cast(program, ctypes.POINTER(_SockFilter)))
    # The kernel copies the program during this call, so `program` only has to live until it returns.
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER, bytes(fprog))


def _checked_instruction(instruction: Instruction) -> Instruction:
    try:
        code, jt, jf, k = (int(field) for field in instruction)
    except (TypeError, ValueError):
        raise FilterError(f"BPF instruction must be four integers (code, jt, jf, k), got {instruction!r}") from None
    if not (0 <= code <= 0xFFFF and 0 <= jt <= 255 and 0 <= jf <= 255 and 0 <= k <= 0xFFFFFFFF):
        raise FilterError(f"BPF instruction field out of range: {instruction!r}")
    return code, jt, jf, k


def _activated_handle(pcap: ctypes.CDLL, iface: str) -> int:
    errbuf = ctypes.create_string_buffer(PCAP_ERRBUF_SIZE)
    handle = pcap.pcap_create(iface.encode(), errbuf)
    if not handle:
        raise FilterError(f"cannot compile a filter for {iface!r}: {errbuf.value.decode(errors='replace')}")
    pcap.pcap_set_snaplen(handle, SNAPLEN)
    pcap.pcap_set_buffer_size(handle, HANDLE_BUFFER_BYTES)
    status = pcap.pcap_activate(handle)
    if status < 0:  # a positive status is a warning (e.g. promiscuous mode not supported): compiling still works
        message = _error_of(pcap, handle) or pcap.pcap_statustostr(status).decode(errors="replace")
        pcap.pcap_close(handle)
        raise FilterError(f"cannot compile a filter for {iface!r}: {message}")
    return handle


def _netmask(pcap: ctypes.CDLL, iface: str) -> int:
    """The interface's IPv4 netmask, which `ip broadcast` needs; unknown when it has no IPv4 address."""
    network, netmask = ctypes.c_uint32(), ctypes.c_uint32()
    errbuf = ctypes.create_string_buffer(PCAP_ERRBUF_SIZE)
    if pcap.pcap_lookupnet(iface.encode(), ctypes.byref(network), ctypes.byref(netmask), errbuf) != 0:
        return PCAP_NETMASK_UNKNOWN
    return netmask.value


def _error_of(pcap: ctypes.CDLL, handle: int) -> str:
    return pcap.pcap_geterr(handle).decode(errors="replace")


@functools.cache
def _libpcap() -> ctypes.CDLL:
    """libpcap, loaded on first use (Debian: libpcap0.8), with the signatures of the calls made here."""
    name = ctypes.util.find_library("pcap") or "libpcap.so.0.8"
    try:
        pcap = ctypes.CDLL(name)
    except OSError:
        raise FilterError(
            "filter expressions are compiled by libpcap, which is not installed (Debian: apt install libpcap0.8)"
        ) from None
    handle, text = ctypes.c_void_p, ctypes.c_char_p
    signatures = {
        "pcap_create": (handle, [text, text]),
        "pcap_set_snaplen": (ctypes.c_int, [handle, ctypes.c_int]),
        "pcap_set_buffer_size": (ctypes.c_int, [handle, ctypes.c_int]),
        "pcap_activate": (ctypes.c_int, [handle]),
        "pcap_datalink": (ctypes.c_int, [handle]),
        "pcap_lookupnet": (ctypes.c_int, [text, ctypes.c_void_p, ctypes.c_void_p, text]),
        "pcap_compile": (ctypes.c_int, [handle, ctypes.POINTER(_BpfProgram), text, ctypes.c_int, ctypes.c_uint32]),
        "pcap_freecode": (None, [ctypes.POINTER(_BpfProgram)]),
        "pcap_geterr": (text, [handle]),
        "pcap_statustostr": (text, [ctypes.c_int]),
        "pcap_close": (None, [handle]),
    }
    for function, (restype, argtypes) in signatures.items():
        getattr(pcap, function).restype = restype
        getattr(pcap, function).argtypes = argtypes
    return pcap
