"""The office's rhythm: how busy it is at each hour, how big things are, and the processes that make its
ordinary traffic.

A process is a generator that yields the packet time of its next action before taking it; the office's
background advances every process until that time passes the end of what is being generated (a scenario's
capture, or the demo's next segment), so the same office can be generated once or one segment at a time."""

from __future__ import annotations

import hashlib
import random
import time
from collections.abc import Callable, Iterator

from appliance.simulate.capture import Host

Process = Iterator[float]


def diurnal(ts: float) -> float:
    """How busy the office is at `ts` (UTC), from 0.02 at night to 1.0 at mid-morning."""
    moment = time.gmtime(ts)
    if moment.tm_wday >= 5:
        return 0.03
    hour = moment.tm_hour + moment.tm_min / 60
    if 8 <= hour < 12 or 13 <= hour < 17:
        return 1.0
    if 12 <= hour < 13:
        return 0.55
    if 7 <= hour < 8 or 17 <= hour < 19:
        return 0.35
    return 0.02


def working_hours(ts: float) -> bool:
    """Whether staff are at their desks (machines on, people logged in)."""
    return diurnal(ts) >= 0.35


def powered_on(host: Host, ts: float) -> bool:
    """Servers and devices run around the clock; a workstation is on during working hours, or always if its
    user leaves it on (about one in three, fixed per machine)."""
    if host.role != "workstation" or working_hours(ts):
        return True
    return hashlib.sha256(host.mac_bytes).digest()[0] < 86


def heavy_tail(rng: random.Random, scale: int, cap: int, alpha: float = 1.3) -> int:
    """Sizes are heavy-tailed (Pareto), as measured on real enterprise networks."""
    return min(cap, int(scale * rng.paretovariate(alpha)))


def next_busy(rng: random.Random, ts: float, mean_gap: float) -> float:
    """The next event of a Poisson process whose rate follows the office's day."""
    return ts + rng.expovariate(max(diurnal(ts), 0.02) / mean_gap)


def every(
    rng: random.Random,
    first: float,
    period: float,
    jitter: float,
    action: Callable[[float], object],
    when: Callable[[float], bool] = lambda ts: True,
) -> Process:
    """`action(ts)` every `period` seconds (+- `jitter` of it) from `first`, skipping the times `when` says
    no: a timer in software (an agent's poll, a keep-alive, a scheduled job)."""
    ts = first
    while True:
        yield ts
        if when(ts):
            action(ts)
        ts += period * (1 + rng.uniform(-jitter, jitter))


def scheduled(start: float, period: float, offset: float) -> float:
    """The first run at or after `start` of a job that runs every `period` seconds at `offset` into the
    period (cron: offset 1800 with period 86400 is "30 0 * * *", UTC)."""
    run = start - start % period + offset
    return run if run >= start else run + period
