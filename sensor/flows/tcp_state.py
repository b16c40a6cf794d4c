"""Zeek-style history letters and conn_state, from what each side of a flow did.

History keeps the first occurrence of each event per side, in order: S (SYN without ACK), H (SYN+ACK),
A (pure ACK), D (payload), F (FIN), R (RST); upper case for the originator, lower case for the responder.
Conn_state follows Zeek's conn_state() over endpoint states that we derive from those letters.
"""

from __future__ import annotations

import re

import numpy as np

from sensor.decode import layers as L

LETTERS = "SHADFR"
HISTORY_CHARS = LETTERS + LETTERS.lower()  # bit i of a letter mask -> HISTORY_CHARS[i]
SIDE_SHIFT = len(LETTERS)  # responder letters sit above the originator's
SYN, SYNACK, ACK, DATA, FIN, RST = (1 << i for i in range(len(LETTERS)))

TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK, TCP_URG = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20

_INACTIVE, _SYN_SENT, _SYN_ACK_SENT, _PARTIAL, _ESTABLISHED, _CLOSED, _RESET = range(7)
_RSTOS0_HISTORY = re.compile(r"\^?S[^HAFGIQ]*R")


def packet_letters(proto: np.ndarray, flags: np.ndarray, paylen: np.ndarray) -> np.ndarray:
    """The letter bits (originator's side) each packet contributes."""
    tcp = proto == L.PROTO_TCP
    syn, ack = (flags & TCP_SYN) != 0, (flags & TCP_ACK) != 0
    letters = np.where(paylen > 0, DATA, 0)
    letters |= np.where(tcp & syn & ~ack, SYN, 0)
    letters |= np.where(tcp & syn & ack, SYNACK, 0)
    letters |= np.where(tcp & ack & ((flags & (TCP_SYN | TCP_FIN | TCP_RST)) == 0) & (paylen == 0), ACK, 0)
    letters |= np.where(tcp & ((flags & TCP_FIN) != 0), FIN, 0)
    letters |= np.where(tcp & ((flags & TCP_RST) != 0), RST, 0)
    return letters


def is_closed(letters: np.ndarray) -> np.ndarray:
    """A TCP flow is over once either side reset it or both sides sent FIN."""
    resp = letters >> SIDE_SHIFT
    return ((letters | resp) & RST != 0) | ((letters & FIN != 0) & (resp & FIN != 0))


def letters_in_order(first_seen: np.ndarray) -> list[str]:
    """History fragments from a (flows x letters) matrix of first-seen positions (-1 where not new)."""
    present = first_seen >= 0
    order = np.argsort(np.where(present, first_seen, np.iinfo(np.int64).max), axis=1, kind="stable")
    count = present.sum(axis=1)
    # Encode each ordered letter sequence as one integer so equal sequences are spelled out once.
    digits = np.where(np.arange(order.shape[1]) < count[:, None], order + 1, 0)
    codes = (digits << (4 * np.arange(order.shape[1]))).sum(axis=1)
    unique, inverse = np.unique(codes, return_inverse=True)
    spelled = [_spell(int(code)) for code in unique.tolist()]
    return [spelled[i] for i in inverse.tolist()]


def _spell(code: int) -> str:
    chars = []
    while code:
        chars.append(HISTORY_CHARS[(code & 0xF) - 1])
        code >>= 4
    return "".join(chars)


def conn_states(proto: np.ndarray, letters: np.ndarray, pkts_orig: np.ndarray, pkts_resp: np.ndarray,
                payload_orig: np.ndarray, payload_resp: np.ndarray, history: list[str]) -> list[str]:
    orig, resp = letters & 0x3F, letters >> SIDE_SHIFT
    handshake = (orig & SYN != 0) & (resp & SYNACK != 0)
    o_state = _endpoint_state(orig, pkts_orig, handshake, opening=SYN, opening_state=_SYN_SENT)
    r_state = _endpoint_state(resp, pkts_resp, handshake, opening=SYNACK, opening_state=_SYN_ACK_SENT)
    o_inactive = (o_state == _INACTIVE) | (o_state == _PARTIAL)
    r_inactive = (r_state == _INACTIVE) | (r_state == _PARTIAL)
    o_reset, r_reset = o_state == _RESET, r_state == _RESET
    o_closed, r_closed = o_state == _CLOSED, r_state == _CLOSED
    no_payload = (payload_orig == 0) & (payload_resp == 0)
    tcp_choices = [
        (r_reset & ((o_state == _SYN_SENT) | (o_state == _SYN_ACK_SENT) | (o_reset & no_payload)), "REJ"),
        (r_reset & o_inactive, "RSTRH"),
        (r_reset, "RSTR"),
        (o_reset & r_inactive, "OTH?"),  # RSTOS0 or OTH, decided on the history below
        (o_reset, "RSTO"),
        (o_closed & r_closed, "SF"),
        (o_closed & r_inactive, "SH"),
        (o_closed, "S2"),
        (r_closed & o_inactive, "SHR"),
        (r_closed, "S3"),
        ((o_state == _SYN_SENT) & (r_state == _INACTIVE), "S0"),
        ((o_state == _ESTABLISHED) & (r_state == _ESTABLISHED), "S1"),
    ]
    tcp_state = np.select([c for c, _ in tcp_choices], [s for _, s in tcp_choices], "OTH")
    other_state = np.where(pkts_resp > 0, "SF", "S0")
    states = np.where(proto == L.PROTO_TCP, tcp_state, other_state).tolist()
    for i, state in enumerate(states):
        if state == "OTH?":
            states[i] = "RSTOS0" if _RSTOS0_HISTORY.match(history[i]) else "OTH"
    return states


def _endpoint_state(letters, packets, handshake, opening, opening_state):
    return np.select(
        [letters & RST != 0, letters & FIN != 0, handshake, letters & opening != 0, packets > 0],
        [_RESET, _CLOSED, _ESTABLISHED, opening_state, _PARTIAL],
        _INACTIVE,
    )
