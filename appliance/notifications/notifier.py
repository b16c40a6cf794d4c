"""`appliance notify`: the notifier service, a process of its own beside the engine.

Each round: route new decision traces into the outbox (router), queue the digests that are due (digests),
deliver what is due on every channel (channels in parallel, each channel's messages in order), stream the SIEM
export to its syslog destinations (appliance.siem.stream), and keep the firewall's list of destinations current
(appliance.egress). It never writes a table the engine writes, and its write transactions are short.

One notifier per box: a lock file in the runtime directory keeps a second one from starting.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import msgspec

from appliance.delivery.errors import DeliveryError
from appliance.notifications import digests, outbox, repository, router
from appliance.notifications.models import Channel
from appliance.notifications.sending import send
from appliance.store.database import Store

log = logging.getLogger("netsenx.notifier")

DELIVERY_THREADS = 4


class AlreadyRunning(Exception):
    pass


class Round(msgspec.Struct):
    """What one round did (for tests, benchmarks and the log)."""

    traces_routed: int = 0
    digests_queued: int = 0
    delivered: int = 0
    failed: int = 0
    exported: int = 0

    def busy(self) -> bool:
        return bool(self.traces_routed or self.digests_queued or self.delivered or self.exported)


@contextlib.contextmanager
def single_instance(runtime: Path) -> Iterator[None]:
    runtime.mkdir(parents=True, exist_ok=True, mode=0o700)
    with open(runtime / "notifier.lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as error:
            raise AlreadyRunning("another notifier is running for this box") from error
        yield


class Notifier:
    def __init__(
        self,
        store: Store,
        *,
        retry: outbox.RetryPolicy | None = None,
        clock: Callable[[], float] = time.time,
        send_timeout: float = 30.0,
        extra_steps: list[Callable[[float], int]] | None = None,
    ) -> None:
        self.store = store
        self.retry = retry or outbox.RetryPolicy()
        self.clock = clock
        self.send_timeout = send_timeout
        self.extra_steps = extra_steps or []  # e.g. the SIEM export and the firewall list: (now) -> work done
        self._pool = ThreadPoolExecutor(max_workers=DELIVERY_THREADS, thread_name_prefix="deliver")

    def run_once(self) -> Round:
        now = self.clock()
        settings = repository.load_settings(self.store)
        channels = repository.list_channels(self.store, with_secrets=True)
        result = Round()
        while routed := router.route_pending(self.store, channels, settings, now):
            result.traces_routed += routed
        result.digests_queued = digests.flush_due(self.store, channels, settings, now)
        for delivered, failed in self._pool.map(lambda channel: self._deliver(channel, now),
                                                [channel for channel in channels if channel.enabled]):
            result.delivered += delivered
            result.failed += failed
        result.exported = sum(step(now) for step in self.extra_steps)
        return result

    def run(self, poll_interval: float, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                busy = self.run_once().busy()
            except Exception:  # one bad round (a locked database, a bug) must not end notifications for good
                log.exception("notifier round failed; trying again")
                busy = False
            if not busy:
                stop.wait(poll_interval)

    def close(self) -> None:
        self._pool.shutdown(wait=True)

    def _deliver(self, channel: Channel, now: float) -> tuple[int, int]:
        """This channel's due messages, oldest first, until one fails in a way that pauses the channel."""
        if outbox.channel_paused_until(self.store, channel.id) > now:
            return 0, 0
        delivered = failed = 0
        for entry in outbox.due(self.store, channel.id, now):
            outbox.begin_attempt(self.store, entry.id, self.clock())
            try:
                note = send_or_explain(channel, entry.message, self.send_timeout)
            except DeliveryError as error:
                failed += 1
                log.warning("channel %s: message %s failed: %s", channel.name, entry.message.message_id, error)
                if outbox.failed(self.store, channel.id, entry, error, self.clock(), self.retry):
                    break
                continue
            outbox.delivered(self.store, channel.id, entry.id, self.clock(), note)
            delivered += 1
        return delivered, failed


def send_or_explain(channel: Channel, message, timeout: float) -> str:
    """`send`, with a fault of this box's own (a message it cannot format) turned into a dead letter that
    says so, instead of an attempt that fails the same way forever."""
    try:
        return send(channel.settings, message, timeout)
    except DeliveryError:
        raise
    except Exception as error:
        log.exception("channel %s: cannot send message %s", channel.name, message.message_id)
        raise DeliveryError(f"this box could not prepare the message ({type(error).__name__}: {error})",
                            permanent=True) from error
