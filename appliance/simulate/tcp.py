"""TCP conversations with handshakes, sequence/acknowledgement numbers and proper endings.

Timing is as a mirror port on the LAN sees it: the internal client reacts within a fraction of a
millisecond, the server's reactions arrive one round trip later (long for internet peers)."""

from __future__ import annotations

import random

from appliance.simulate import frames
from appliance.simulate.capture import Capture, Host
from appliance.simulate.frames import ACK, FIN, PSH, RST, SYN

MSS = 1460
LOCAL_REACTION = 0.00015  # seconds for the host next to the mirror port to answer


class TcpConversation:
    def __init__(
        self,
        capture: Capture,
        rng: random.Random,
        client: Host,
        server: Host,
        dport: int,
        ts: float,
        *,
        sport: int | None = None,
        rtt: float = 0.0005,
        bandwidth_bps: float = 200e6,
    ) -> None:
        self.capture = capture
        self.client = client
        self.server = server
        self.sport = sport if sport is not None else client.ephemeral_port(rng)
        self.dport = dport
        self.ts = ts
        self.rtt = rtt
        self.byte_time = 8.0 / bandwidth_bps
        self.client_seq = rng.getrandbits(32)
        self.server_seq = rng.getrandbits(32)
        self.client_window = 513 if client.os == "windows" else 502
        self.server_window = 501 if server.os != "windows" else 1026

    # -- one segment -------------------------------------------------------------------------------
    def segment(self, ts: float, from_client: bool, flags: int, payload: bytes = b"", options: bytes = b"") -> None:
        if from_client:
            src, dst, sport, dport = self.client, self.server, self.sport, self.dport
            seq, ack, window = self.client_seq, self.server_seq, self.client_window
        else:
            src, dst, sport, dport = self.server, self.client, self.dport, self.sport
            seq, ack, window = self.server_seq, self.client_seq, self.server_window
        if flags & SYN:
            window = 64240 if from_client else 65160
        segment = frames.tcp(
            src.ip_bytes, dst.ip_bytes, sport, dport, seq, ack if flags & ACK else 0, flags, payload, window, options
        )
        self.capture.ip_packet(ts, src, dst, frames.IPPROTO_TCP, segment)
        advance = len(payload) + (1 if flags & (SYN | FIN) else 0)
        if from_client:
            self.client_seq = (self.client_seq + advance) & 0xFFFFFFFF
        else:
            self.server_seq = (self.server_seq + advance) & 0xFFFFFFFF

    # -- openings ----------------------------------------------------------------------------------
    def open(self) -> TcpConversation:
        self.segment(self.ts, True, SYN, options=frames.tcp_syn_options())
        self.ts += self.rtt
        self.segment(self.ts, False, SYN | ACK, options=frames.tcp_syn_options(wscale=7))
        self.ts += LOCAL_REACTION
        self.segment(self.ts, True, ACK)
        return self

    def refused(self) -> None:
        """Nothing listens: SYN answered by RST/ACK (Zeek's REJ)."""
        self.segment(self.ts, True, SYN, options=frames.tcp_syn_options())
        self.ts += self.rtt
        self.server_seq = 0
        self.segment(self.ts, False, RST | ACK)

    def half_open(self, answered: bool) -> None:
        """A SYN that is never completed: unanswered (S0) or answered with SYN/ACK and then dropped (S1)."""
        self.segment(self.ts, True, SYN, options=frames.tcp_syn_options())
        if answered:
            self.ts += self.rtt
            self.segment(self.ts, False, SYN | ACK, options=frames.tcp_syn_options(wscale=7))

    # -- data --------------------------------------------------------------------------------------
    def client_sends(self, data: bytes, think: float = LOCAL_REACTION) -> TcpConversation:
        self._transfer(True, data, think, self.rtt)
        return self

    def server_sends(self, data: bytes, processing: float = 0.0) -> TcpConversation:
        self._transfer(False, data, self.rtt + processing, LOCAL_REACTION)
        return self

    def _transfer(self, from_client: bool, data: bytes, delay: float, ack_delay: float) -> None:
        """Send `data` in MSS-sized segments at line rate; the receiver acknowledges every second one."""
        ts = self.ts + delay
        last_ack_ts = ts
        count = (len(data) + MSS - 1) // MSS
        for index in range(count):
            chunk = data[index * MSS : (index + 1) * MSS]
            last = index == count - 1
            self.segment(ts, from_client, ACK | PSH if last else ACK, chunk)
            if index & 1 or last:
                last_ack_ts = ts + ack_delay
                self.segment(last_ack_ts, not from_client, ACK)
            ts += len(chunk) * self.byte_time
        self.ts = max(ts, last_ack_ts)

    # -- endings -----------------------------------------------------------------------------------
    def close(self, by_client: bool = True) -> None:
        """Four-way close: FIN/ACK, the peer's FIN/ACK, the last ACK."""
        first_gap, second_gap = (self.rtt, LOCAL_REACTION) if by_client else (LOCAL_REACTION, self.rtt)
        self.ts += LOCAL_REACTION
        self.segment(self.ts, by_client, FIN | ACK)
        self.ts += first_gap
        self.segment(self.ts, not by_client, FIN | ACK)
        self.ts += second_gap
        self.segment(self.ts, by_client, ACK)

    def reset(self, by_client: bool) -> None:
        self.ts += LOCAL_REACTION if by_client else self.rtt
        self.segment(self.ts, by_client, RST | ACK)
