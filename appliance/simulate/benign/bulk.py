"""Big transfers that are not theft: file sync uploading people's documents to the cloud during the day,
large software downloads, and video calls (UDP for as long as the meeting, about as much up as down).

Cloud sync is the daytime twin of exfiltration: tens of megabytes leaving for an external peer with little
coming back. What tells them apart is where it goes (the tenant's own SharePoint, from many machines) and
that it is the users' documents, not the server's database."""

from __future__ import annotations

import random

from appliance.simulate import conversations as talk
from appliance.simulate.benign.rhythm import Process, heavy_tail, next_busy, working_hours
from appliance.simulate.capture import Host
from appliance.simulate.protocols import media, tls
from appliance.simulate.site import Site

SYNC_HOST = "corpexample-my.sharepoint.com"
OFFICE_CDN = "officecdn.microsoft.com"
MEDIA_RELAYS = ("relay-euwe-01.teams.microsoft.com", "relay-euno-02.teams.microsoft.com")
MEDIA_PORT = 3480
SYNC_EVERY = 45 * 60.0  # mean gap between one user's sync batches at the busiest time of day
BIG_DOWNLOAD_EVERY = 24 * 3600.0
CALL_EVERY = 40 * 60.0  # mean gap between calls on one line at the busiest time of day
CALL_LINES = 2
CALL_CHUNK_S = 5.0
AUDIO_PPS = 50  # Opus in 20 ms frames
VIDEO_PPS = 20


def processes(site: Site) -> list[Process]:
    out = []
    for host in site.office.workstations:
        rng = site.rng(f"benign:bulk:{host.name}")
        out += [_cloud_sync(site, rng, host), _big_downloads(site, rng, host)]
    out += [_video_calls(site, line) for line in range(CALL_LINES)]
    return out


def _cloud_sync(site: Site, rng: random.Random, host: Host) -> Process:
    """OneDrive uploading a batch of changed files in 10 MB fragments over one connection."""
    ts = next_busy(rng, site.start, SYNC_EVERY)
    while True:
        yield ts
        total = heavy_tail(rng, 1_500_000, 150_000_000, alpha=1.1)
        fragments = [(min(10_000_000, total - offset), rng.randint(500, 1_200))
                     for offset in range(0, total, 10_000_000)]
        ts = talk.https_visit(site, rng, ts, host, SYNC_HOST, tls.SCHANNEL, fragments)
        ts = next_busy(rng, ts, SYNC_EVERY)


def _big_downloads(site: Site, rng: random.Random, host: Host) -> Process:
    """Office's click-to-run updates: one large download about once a day per machine."""
    ts = site.start + rng.expovariate(1 / BIG_DOWNLOAD_EVERY)
    while True:
        yield ts
        if working_hours(ts):
            size = heavy_tail(rng, 20_000_000, 150_000_000, alpha=1.5)
            talk.https_visit(site, rng, ts, host, OFFICE_CDN, tls.SCHANNEL, [(rng.randint(600, 900), size)])
        ts += rng.expovariate(1 / BIG_DOWNLOAD_EVERY)


def _video_calls(site: Site, line: int) -> Process:
    """One line of calls after another (the office has a few of them running side by side), generated a few
    seconds at a time so an hour-long meeting never sits in memory at once."""
    rng = site.rng(f"benign:video-calls:{line}")
    ts = next_busy(rng, site.start, CALL_EVERY)
    while True:
        yield ts
        if working_hours(ts):
            call = _Call(site, rng, ts, rng.choice(site.office.workstations))
            end = ts + min(rng.expovariate(1 / 900) + 120, 3600)
            while call.ts < end:
                yield call.ts
                call.media_until(min(call.ts + CALL_CHUNK_S, end))
            ts = call.ts
        ts = next_busy(rng, ts, CALL_EVERY)


class _Call:
    """STUN to the media relay, then SRTP both ways: audio every 20 ms and video frames, for the whole call."""

    def __init__(self, site: Site, rng: random.Random, ts: float, host: Host) -> None:
        self.capture, self.rng, self.host = site.capture, rng, host
        self.relay = site.host_for(rng.choice(MEDIA_RELAYS))
        self.ts = site.office.resolve(self.capture, ts, host, self.relay)
        self.port, self.rtt = host.ephemeral_port(rng), site.rtt(host, self.relay)
        transaction = rng.randbytes(12)
        self.capture.udp(self.ts, host, self.relay, self.port, MEDIA_PORT, media.stun_binding(transaction))
        self.capture.udp(self.ts + self.rtt, self.relay, host, MEDIA_PORT, self.port,
                         media.stun_binding(transaction, response=True) + bytes(12))
        self.ssrc_out, self.ssrc_in = rng.getrandbits(32), rng.getrandbits(32)
        self.sequence = rng.getrandbits(16)
        self.tick = 0

    def media_until(self, end: float) -> None:
        capture, rng = self.capture, self.rng
        legs = ((self.ssrc_out, self.host, self.relay, self.port, MEDIA_PORT, 0.0),
                (self.ssrc_in, self.relay, self.host, MEDIA_PORT, self.port, self.rtt / 2))
        while self.ts < end:
            self.ts += 1 / AUDIO_PPS
            self.tick += 1
            tick = self.tick
            for ssrc, src, dst, sport, dport, delay in legs:
                audio = capture.filler(rng.randint(60, 160) + media.SRTP_TAG, tick)
                capture.udp(self.ts + delay, src, dst, sport, dport,
                            media.srtp(media.OPUS, self.sequence + tick, tick * 960, ssrc, audio, False))
                if tick % (AUDIO_PPS // VIDEO_PPS) == 0:
                    video = capture.filler(rng.randint(700, 1_150) + media.SRTP_TAG, tick * 3)
                    capture.udp(self.ts + delay + 0.001, src, dst, sport, dport,
                                media.srtp(media.VP8, self.sequence + tick, tick * 1800, ssrc ^ 1, video, True))
