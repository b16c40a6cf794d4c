"""`Shipper`: what the capture loop hands records to. Batches go to the on-disk spool first, and a background
thread delivers them to the appliance in seq order, heartbeats every 60 s and pulls the config.

Exactly once, end to end: a batch leaves the spool only when the appliance acknowledged it (stored, or
already stored: it deduplicates on (agent_id, seq)), and seqs are never reused across restarts (see
`spool`). So killing either side at any moment loses nothing and duplicates nothing; the only loss is the
spool's cap, which is counted.

The appliance being down, slow or rate-limiting only delays delivery (exponential back-off, honouring
Retry-After). A refused license (revoked sensor, locked license, unknown key) keeps the batches spooled and
retries slowly, so an admin's fix on the box lets them through. A batch the appliance rejects as malformed
(400/413/415) would block the queue forever; it is dropped and counted in `rejected`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec

from sensor.records import Batch, CaptureStats, Event, Flow, encode_batch
from sensor.shipping.batching import counters_since, split_drain
from sensor.shipping.client import AgentIdentity, ApplianceClient, Refused, Unavailable, tls_verification
from sensor.shipping.spool import DEFAULT_MAX_BYTES, Spool

log = logging.getLogger("sensor.shipping")

NOT_ALLOWED_NOW = (401, 403, 423)  # the sensor or license is refused: keep the batch for when it is fixed


class ShippingStats(msgspec.Struct):
    spooled: int = 0
    delivered: int = 0
    duplicates: int = 0
    """Acknowledged as already stored: a redelivery after a lost answer."""
    rejected: int = 0
    lost: int = 0
    """Dropped by the spool's size cap while the appliance was unreachable."""
    pending: int = 0
    last_error: str = ""


class Shipper:
    def __init__(
        self,
        appliance_url: str,
        license_key: str,
        agent_id: str,
        spool_dir: str | Path,
        *,
        hostname: str | None = None,
        ca_file: str | None = None,
        insecure: bool = False,
        max_spool_bytes: int = DEFAULT_MAX_BYTES,
        spool_key_file: str | Path | None = None,
        max_records: int = 5000,
        heartbeat_seconds: float = 60.0,
        config_seconds: float = 300.0,
        max_backoff: float = 30.0,
        timeout: float = 10.0,
    ) -> None:
        identity = AgentIdentity(
            agent_id=agent_id, license_key=license_key, **({"hostname": hostname} if hostname else {})
        )
        self.spool = Spool(Path(spool_dir), agent_id, max_spool_bytes, Path(spool_key_file) if spool_key_file else None)
        self.client = ApplianceClient(appliance_url, identity, tls_verification(ca_file, insecure), timeout)
        self.max_records = max_records
        self.heartbeat_seconds = heartbeat_seconds
        self.config_seconds = config_seconds
        self.max_backoff = max_backoff
        self.config: dict[str, Any] | None = None
        self.last_heartbeat: dict[str, Any] | None = None
        self._stats = ShippingStats()
        self._next_heartbeat = 0.0
        self._next_config = 0.0
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._counted = CaptureStats()  # the capture's totals already shipped
        self._learn_where_to_continue()
        self._thread = threading.Thread(target=self._run, name="shipper", daemon=True)
        self._thread.start()

    @property
    def stats(self) -> ShippingStats:
        return msgspec.structs.replace(self._stats, lost=self.spool.lost_batches, pending=len(self.spool))

    def ship(self, flows: Sequence[Flow], events: Sequence[Event], stats: CaptureStats) -> list[int]:
        """Spool the records as one or more batches (durably) and return their seqs; delivery follows.
        `stats` are the capture's running totals; the batches carry what they grew by since the last call."""
        seqs = []
        new_counts, self._counted = counters_since(stats, self._counted), stats
        for batch_flows, batch_events, batch_stats in split_drain(flows, events, new_counts, self.max_records):
            seqs.append(
                self.spool.append(
                    lambda seq, f=batch_flows, e=batch_events, s=batch_stats: encode_batch(
                        Batch(
                            agent_id=self.client.identity.agent_id,
                            seq=seq,
                            sent_at=time.time(),
                            flows=f,
                            events=e,
                            stats=s,
                        )
                    )
                )
            )
        self._stats.spooled += len(seqs)
        self._wake.set()
        return seqs

    def flush(self, timeout: float) -> bool:
        """Wait until every spooled batch is delivered; False if some are still waiting after `timeout` s."""
        deadline = time.monotonic() + timeout
        while len(self.spool) and time.monotonic() < deadline and self._thread.is_alive():
            self._wake.set()
            time.sleep(0.02)
        return not len(self.spool)

    def close(self, drain_timeout: float = 0.0) -> int:
        """Stop delivering (after trying for up to `drain_timeout` s). Returns the batches left in the spool:
        they are not lost, the next Shipper on the same spool directory sends them."""
        if drain_timeout > 0:
            self.flush(drain_timeout)
        self._stop.set()
        self._wake.set()
        self._thread.join()
        self.client.close()
        return len(self.spool)

    def _learn_where_to_continue(self) -> None:
        """Authenticate before the first batch is numbered, so a sensor that lost its spool directory
        continues after the seqs the appliance already has. An unreachable box is not an error here."""
        try:
            self.client.authenticate()
        except (Unavailable, Refused) as error:
            self._stats.last_error = str(error)
            log.warning("cannot authenticate with the appliance yet (%s); batches are spooled meanwhile", error)
            return
        self.spool.continue_from(self.client.next_seq)

    def _run(self) -> None:
        failures = 0
        while not self._stop.is_set():
            try:
                self._deliver_spooled()
            except (Unavailable, Refused) as error:
                failures += 1
                self._stats.last_error = str(error)
                log.warning("delivery to the appliance failed (%s); %d batches spooled", error, len(self.spool))
                self._stop.wait(self._backoff(error, failures))
                continue
            failures = 0
            self._keep_in_touch()
            self._wake.wait(1.0)
            self._wake.clear()

    def _backoff(self, error: Exception, failures: int) -> float:
        if isinstance(error, Unavailable) and error.retry_after:
            return error.retry_after
        if isinstance(error, Refused):
            return self.max_backoff
        return min(self.max_backoff, 0.25 * 2 ** (failures - 1))

    def _deliver_spooled(self) -> None:
        while not self._stop.is_set():
            oldest = self.spool.oldest()
            if oldest is None:
                return
            seq, payload = oldest
            try:
                reply = self.client.ingest(payload)
            except Refused as error:
                if error.status_code in NOT_ALLOWED_NOW:
                    raise
                log.error("the appliance rejected batch %d for good (%s); dropping it", seq, error)
                self._stats.rejected += 1
            else:
                if reply.duplicate:
                    self._stats.duplicates += 1
                else:
                    self._stats.delivered += 1
            self.spool.remove(seq)

    def _keep_in_touch(self) -> None:
        """Heartbeat and config pull when due. Their failures never hold up delivery; they retry when due."""
        now = time.monotonic()
        if now >= self._next_heartbeat:
            self._next_heartbeat = now + self.heartbeat_seconds
            try:
                self.last_heartbeat = self.client.heartbeat()
            except (Unavailable, Refused) as error:
                log.warning("heartbeat failed: %s", error)
        if now >= self._next_config:
            self._next_config = now + self.config_seconds
            try:
                self.config = self.client.config()
            except (Unavailable, Refused) as error:
                log.warning("config pull failed: %s", error)
