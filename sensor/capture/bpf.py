"""Classic BPF socket filters for Ethernet frames, built without tcpdump or libpcap.

`compile_filter` understands a small tcpdump-like language, enough for a sensor's usual needs:

    expr      := term ("or" term)*
    term      := factor ("and" factor)*
    factor    := "not" factor | "(" expr ")" | primitive
    primitive := ["ip" | "ip6"] ["src" | "dst"] "host" ADDRESS
               | ["tcp" | "udp"] ["src" | "dst"] "port" NUMBER
               | "ip" | "ip6" | "arp" | "tcp" | "udp" | "icmp"

e.g. "ip host 10.0.0.5", "tcp port 443", "not port 22", "udp port 53 or icmp". Like tcpdump, `port` only
looks at unfragmented IPv4 packets (or the first fragment) and IPv6 packets without extension headers.
A raw list of `(code, jt, jf, k)` instructions (e.g. from `tcpdump -dd`) can be attached just the same.

The kernel runs the filter before a packet is copied to the capture ring, so unwanted traffic costs no
ring space and no Python time.
"""

from __future__ import annotations

import ctypes
import ipaddress
import re
import socket
from collections.abc import Callable

Instruction = tuple[int, int, int, int]  # (code, jt, jf, k) as in struct sock_filter

SO_ATTACH_FILTER = 26
ACCEPT_WHOLE_PACKET = 0x40000  # return value = bytes to keep; tcpdump's default snap length

# Opcodes: class | size | mode (see <linux/filter.h>).
LD_W_ABS = 0x20  # A = u32 at [k]
LD_H_ABS = 0x28  # A = u16 at [k]
LD_B_ABS = 0x30  # A = u8 at [k]
LD_H_IND = 0x48  # A = u16 at [X + k]
LDX_B_MSH = 0xB1  # X = 4 * ([k] & 0xf), the IPv4 header length
JMP_JEQ_K = 0x15
JMP_JSET_K = 0x45
RET_K = 0x06

ETHERTYPE = {"ip": 0x0800, "ip6": 0x86DD, "arp": 0x0806}
IP_PROTOCOL = {"tcp": 6, "udp": 17, "icmp": 1}
ETH_HEADER = 14
IPV4_PROTOCOL_AT = ETH_HEADER + 9
IPV4_FLAGS_FRAGMENT_AT = ETH_HEADER + 6
IPV4_ADDRESS_AT = {"src": ETH_HEADER + 12, "dst": ETH_HEADER + 16}
IPV6_NEXT_HEADER_AT = ETH_HEADER + 6
IPV6_ADDRESS_AT = {"src": ETH_HEADER + 8, "dst": ETH_HEADER + 24}
IPV6_TRANSPORT_AT = ETH_HEADER + 40
PORT_AT = {"src": 0, "dst": 2}  # within the TCP/UDP header


class FilterError(ValueError):
    """The filter expression or instruction list is not valid; the message says where."""


Label = int
Emitter = Callable[["_Assembler", Label, Label], None]  # emits code that jumps to (on_match, on_miss)


class _Assembler:
    """Collects instructions whose jump targets are labels, then resolves them to relative offsets."""

    def __init__(self) -> None:
        self._code: list[tuple[int, Label | None, Label | None, int]] = []
        self._label_at: dict[Label, int] = {}
        self._next_label = 0

    def label(self) -> Label:
        self._next_label += 1
        return self._next_label

    def place(self, label: Label) -> None:
        self._label_at[label] = len(self._code)

    def instruction(self, code: int, k: int) -> None:
        """A load, or a return; anything that does not jump."""
        self._code.append((code, None, None, k))

    def jump(self, code: int, k: int, if_true: Label | None, if_false: Label | None) -> None:
        """Conditional jump; a None target means "fall through to the next instruction"."""
        self._code.append((code, if_true, if_false, k))

    def assemble(self) -> list[Instruction]:
        program = []
        for index, (code, if_true, if_false, k) in enumerate(self._code):
            program.append((code, self._offset(index, if_true), self._offset(index, if_false), k))
        return program

    def _offset(self, index: int, label: Label | None) -> int:
        if label is None:
            return 0
        offset = self._label_at[label] - index - 1
        if not 0 <= offset <= 255:
            raise FilterError("filter is too long for classic BPF jumps (more than 255 instructions apart)")
        return offset


def compile_filter(expression: str) -> list[Instruction]:
    """Compile an expression of the language above into classic BPF for Ethernet frames."""
    tokens = _tokenize(expression)
    if not tokens:
        raise FilterError("empty filter expression")
    parser = _Parser(tokens, expression)
    emit = parser.expression()
    if parser.position != len(tokens):
        raise FilterError(f"unexpected {tokens[parser.position]!r} in filter {expression!r}")
    asm = _Assembler()
    accept, reject = asm.label(), asm.label()
    emit(asm, accept, reject)
    asm.place(accept)
    asm.instruction(RET_K, ACCEPT_WHOLE_PACKET)
    asm.place(reject)
    asm.instruction(RET_K, 0)
    return asm.assemble()


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


class _SockFilter(ctypes.Structure):
    _fields_ = [
        ("code", ctypes.c_uint16),
        ("jt", ctypes.c_uint8),
        ("jf", ctypes.c_uint8),
        ("k", ctypes.c_uint32),
    ]


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.POINTER(_SockFilter))]


def _checked_instruction(instruction: Instruction) -> Instruction:
    try:
        code, jt, jf, k = (int(field) for field in instruction)
    except (TypeError, ValueError):
        raise FilterError(f"BPF instruction must be four integers (code, jt, jf, k), got {instruction!r}") from None
    if not (0 <= code <= 0xFFFF and 0 <= jt <= 255 and 0 <= jf <= 255 and 0 <= k <= 0xFFFFFFFF):
        raise FilterError(f"BPF instruction field out of range: {instruction!r}")
    return code, jt, jf, k


def _tokenize(expression: str) -> list[str]:
    return re.findall(r"\(|\)|[^\s()]+", expression.lower())


class _Parser:
    """Recursive descent over the tokens; each rule returns an Emitter for the code generator."""

    def __init__(self, tokens: list[str], source: str) -> None:
        self.tokens = tokens
        self.source = source
        self.position = 0

    def expression(self) -> Emitter:
        left = self.term()
        while self._accept("or"):
            left = _either(left, self.term())
        return left

    def term(self) -> Emitter:
        left = self.factor()
        while self._accept("and"):
            left = _both(left, self.factor())
        return left

    def factor(self) -> Emitter:
        if self._accept("not"):
            return _negated(self.factor())
        if self._accept("("):
            inner = self.expression()
            self._expect(")")
            return inner
        return self.primitive()

    def primitive(self) -> Emitter:
        qualifier = self._accept("ip", "ip6", "tcp", "udp", "icmp", "arp")
        direction = self._accept("src", "dst")
        if self._accept("host"):
            if qualifier not in (None, "ip", "ip6"):
                raise FilterError(f"'{qualifier} host' is not supported in filter {self.source!r}")
            return _host(self._address(qualifier), direction)
        if self._accept("port"):
            if qualifier not in (None, "tcp", "udp"):
                raise FilterError(f"'{qualifier} port' is not supported in filter {self.source!r}")
            return _port(self._port_number(), qualifier, direction)
        if qualifier is not None and direction is None:
            return _protocol(qualifier)
        raise FilterError(f"expected 'host', 'port' or a protocol at {self._here()} in filter {self.source!r}")

    def _address(self, family: str | None) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
        token = self._take("an address")
        try:
            address = ipaddress.ip_address(token)
        except ValueError:
            raise FilterError(f"{token!r} is not an IP address in filter {self.source!r}") from None
        if (family == "ip" and address.version != 4) or (family == "ip6" and address.version != 6):
            raise FilterError(f"{token!r} does not match '{family} host' in filter {self.source!r}")
        return address

    def _port_number(self) -> int:
        token = self._take("a port number")
        if not token.isdigit() or not 0 <= int(token) <= 65535:
            raise FilterError(f"{token!r} is not a port number (0..65535) in filter {self.source!r}")
        return int(token)

    def _accept(self, *words: str) -> str | None:
        if self.position < len(self.tokens) and self.tokens[self.position] in words:
            self.position += 1
            return self.tokens[self.position - 1]
        return None

    def _expect(self, word: str) -> None:
        if not self._accept(word):
            raise FilterError(f"expected {word!r} at {self._here()} in filter {self.source!r}")

    def _take(self, what: str) -> str:
        if self.position >= len(self.tokens):
            raise FilterError(f"expected {what} at the end of filter {self.source!r}")
        self.position += 1
        return self.tokens[self.position - 1]

    def _here(self) -> str:
        return repr(self.tokens[self.position]) if self.position < len(self.tokens) else "the end"


def _either(left: Emitter, right: Emitter) -> Emitter:
    def emit(asm: _Assembler, on_match: Label, on_miss: Label) -> None:
        try_right = asm.label()
        left(asm, on_match, try_right)
        asm.place(try_right)
        right(asm, on_match, on_miss)

    return emit


def _both(left: Emitter, right: Emitter) -> Emitter:
    def emit(asm: _Assembler, on_match: Label, on_miss: Label) -> None:
        check_right = asm.label()
        left(asm, check_right, on_miss)
        asm.place(check_right)
        right(asm, on_match, on_miss)

    return emit


def _negated(inner: Emitter) -> Emitter:
    def emit(asm: _Assembler, on_match: Label, on_miss: Label) -> None:
        inner(asm, on_miss, on_match)

    return emit


def _protocol(name: str) -> Emitter:
    if name in ETHERTYPE:
        return _ethertype_is(ETHERTYPE[name])
    return _transport_is(name)


def _ethertype_is(ethertype: int) -> Emitter:
    def emit(asm: _Assembler, on_match: Label, on_miss: Label) -> None:
        asm.instruction(LD_H_ABS, 12)
        asm.jump(JMP_JEQ_K, ethertype, on_match, on_miss)

    return emit


def _transport_is(name: str) -> Emitter:
    """tcp/udp over IPv4 or IPv6 (next header directly after the fixed header); icmp over IPv4 only."""
    number = IP_PROTOCOL[name]

    def emit(asm: _Assembler, on_match: Label, on_miss: Label) -> None:
        not_ipv4 = on_miss if name == "icmp" else asm.label()
        asm.instruction(LD_H_ABS, 12)
        asm.jump(JMP_JEQ_K, ETHERTYPE["ip"], None, not_ipv4)
        asm.instruction(LD_B_ABS, IPV4_PROTOCOL_AT)
        asm.jump(JMP_JEQ_K, number, on_match, on_miss)
        if name == "icmp":
            return
        asm.place(not_ipv4)
        asm.jump(JMP_JEQ_K, ETHERTYPE["ip6"], None, on_miss)  # A still holds the ethertype
        asm.instruction(LD_B_ABS, IPV6_NEXT_HEADER_AT)
        asm.jump(JMP_JEQ_K, number, on_match, on_miss)

    return emit


def _host(address: ipaddress.IPv4Address | ipaddress.IPv6Address, direction: str | None) -> Emitter:
    directions = [direction] if direction else ["src", "dst"]
    ethertype, offsets = (
        (ETHERTYPE["ip"], IPV4_ADDRESS_AT) if address.version == 4 else (ETHERTYPE["ip6"], IPV6_ADDRESS_AT)
    )
    words = [int.from_bytes(address.packed[i : i + 4], "big") for i in range(0, len(address.packed), 4)]

    def emit(asm: _Assembler, on_match: Label, on_miss: Label) -> None:
        asm.instruction(LD_H_ABS, 12)
        asm.jump(JMP_JEQ_K, ethertype, None, on_miss)
        for position, which in enumerate(directions):
            try_next = asm.label() if position < len(directions) - 1 else on_miss
            for i, word in enumerate(words):
                asm.instruction(LD_W_ABS, offsets[which] + 4 * i)
                last_word = i == len(words) - 1
                asm.jump(JMP_JEQ_K, word, on_match if last_word else None, try_next)
            if try_next != on_miss:
                asm.place(try_next)

    return emit


def _port(port: int, transport: str | None, direction: str | None) -> Emitter:
    directions = [direction] if direction else ["src", "dst"]
    protocols = [IP_PROTOCOL[transport]] if transport else [IP_PROTOCOL["tcp"], IP_PROTOCOL["udp"]]

    def emit_protocol_check(asm: _Assembler, offset: int, on_miss: Label) -> None:
        asm.instruction(LD_B_ABS, offset)
        carry_on = asm.label()
        for number in protocols[:-1]:
            asm.jump(JMP_JEQ_K, number, carry_on, None)
        asm.jump(JMP_JEQ_K, protocols[-1], None, on_miss)
        asm.place(carry_on)

    def emit_port_check(asm: _Assembler, load: int, base: int, on_match: Label, on_miss: Label) -> None:
        for position, which in enumerate(directions):
            asm.instruction(load, base + PORT_AT[which])
            is_last = position == len(directions) - 1
            asm.jump(JMP_JEQ_K, port, on_match, on_miss if is_last else None)

    def emit(asm: _Assembler, on_match: Label, on_miss: Label) -> None:
        not_ipv4 = asm.label()
        asm.instruction(LD_H_ABS, 12)
        asm.jump(JMP_JEQ_K, ETHERTYPE["ip"], None, not_ipv4)
        emit_protocol_check(asm, IPV4_PROTOCOL_AT, on_miss)
        asm.instruction(LD_H_ABS, IPV4_FLAGS_FRAGMENT_AT)
        asm.jump(JMP_JSET_K, 0x1FFF, on_miss, None)  # a later fragment has no transport header
        asm.instruction(LDX_B_MSH, ETH_HEADER)
        emit_port_check(asm, LD_H_IND, ETH_HEADER, on_match, on_miss)
        asm.place(not_ipv4)
        asm.jump(JMP_JEQ_K, ETHERTYPE["ip6"], None, on_miss)  # A still holds the ethertype
        emit_protocol_check(asm, IPV6_NEXT_HEADER_AT, on_miss)
        emit_port_check(asm, LD_H_ABS, IPV6_TRANSPORT_AT, on_match, on_miss)

    return emit
