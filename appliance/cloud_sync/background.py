"""The heartbeat's background thread, started with every API worker; only one of them sends.

Granian runs several worker processes, each with its own app. Each starts this runner; the one that gets
an exclusive flock on `cloud_sync.lock` in the runtime directory sends heartbeats, the others only retry
the lock now and then (so a worker that dies hands the job to another). The thread wakes every
`tick_seconds` to re-read the settings, so switching the link on or off takes effect within a tick.
"""

from __future__ import annotations

import fcntl
import logging
import threading
import time
from pathlib import Path

from appliance.api.box import Box
from appliance.cloud_sync.heartbeat import sync_once
from appliance.cloud_sync.settings import load_settings, load_status
from appliance.licensing import box_license
from appliance.store.keys import SealedError

log = logging.getLogger("netsenx.cloud_sync")


class CloudSyncRunner:
    def __init__(self, box: Box, lock_path: Path, tick_seconds: float = 60.0) -> None:
        self.box = box
        self.lock_path = lock_path
        self.tick_seconds = tick_seconds
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="cloud-sync", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        self.lock_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        with open(self.lock_path, "a+b") as lock_file:
            while not self._stop.is_set():
                try:
                    fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    self._stop.wait(self.tick_seconds)  # another worker sends; take over if it goes away
                    continue
                try:
                    self._send_while_running()
                finally:
                    fcntl.flock(lock_file, fcntl.LOCK_UN)

    def _send_while_running(self) -> None:
        while not self._stop.is_set():
            try:
                self.sync_if_due(time.time())
            except SealedError:
                pass  # nothing to send until an admin unseals the box
            except Exception:  # the link must never take the worker down; the next tick tries again
                log.exception("cloud heartbeat failed")
            self._stop.wait(self.tick_seconds)

    def sync_if_due(self, now: float) -> bool:
        store = self.box.store()
        settings = load_settings(store)
        last = load_status(store).last_attempt_at
        if not settings.enabled or (last is not None and now - last < settings.interval_seconds):
            return False
        sync_once(store, box_license.trusted_keys(), sleep=self._stop.wait, now=now)
        return True
