"""Metrics read from the store at each scrape: a handful of small indexed queries, nothing scanned.

Counters come from running totals the box keeps (capture_totals, alert_raised_totals, the outbox) so that
they only grow; gauges say how things are now (queue, lag, backlog, licence, disk).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from appliance.licensing import box_license
from appliance.store.database import Store

CAPTURE_COUNTERS = {
    "packets": "packets the sensor captured",
    "bytes": "bytes the sensor captured",
    "kernel_drops": "packets the kernel dropped before the sensor read them",
    "malformed": "packets the sensor could not decode",
    "flows": "flow records the sensor shipped",
    "batches": "batches the box took from the sensor",
}


class StoreCollector:
    def __init__(self, store: Store) -> None:
        self.store = store

    def collect(self) -> Iterator[Metric]:
        now = time.time()
        yield from self.sensors()
        yield from self.engine(now)
        yield from self.alerts()
        yield from self.notifications(now)
        yield from self.export()
        yield from self.licence(now)
        yield from self.disk()

    def sensors(self) -> Iterator[Metric]:
        rows = self.store.query("SELECT t.*, coalesce(a.name, t.agent_id) AS name, a.last_seen FROM capture_totals t "
                                "LEFT JOIN agents a ON a.agent_id = t.agent_id ORDER BY t.agent_id")
        for field, meaning in CAPTURE_COUNTERS.items():
            family = CounterMetricFamily(f"netsenx_sensor_{field}", f"{meaning.capitalize()}, per sensor",
                                         labels=["sensor", "name"])
            for row in rows:
                family.add_metric([row["agent_id"], row["name"]], row[field])
            yield family
        seen = GaugeMetricFamily("netsenx_sensor_last_seen_timestamp_seconds", "When each sensor last reported",
                                 labels=["sensor", "name"])
        for row in self.store.query("SELECT agent_id, name, last_seen FROM agents WHERE revoked = 0"):
            seen.add_metric([row["agent_id"], row["name"]], row["last_seen"])
        yield seen

    def engine(self, now: float) -> Iterator[Metric]:
        queued = self.store.query_one("SELECT count(*) AS n, min(received_at) AS oldest FROM ingest_batches "
                                      "WHERE done = 0")
        yield GaugeMetricFamily("netsenx_ingest_batches_queued", "Batches waiting for the engine",
                                value=queued["n"])
        yield GaugeMetricFamily("netsenx_engine_lag_seconds", "Age of the oldest batch the engine has not processed "
                                "(0 when it has caught up)", value=max(0.0, now - queued["oldest"]) if queued["n"]
                                else 0.0)
        behind = self.store.query_one("SELECT coalesce(max(seq), 0) - (SELECT trace_seq FROM notifier_cursor) AS n "
                                      "FROM decision_traces")["n"]
        yield GaugeMetricFamily("netsenx_notifier_decisions_behind", "Decision traces the notifier has not routed yet",
                                value=max(0, behind))

    def alerts(self) -> Iterator[Metric]:
        raised = CounterMetricFamily("netsenx_alerts_raised", "Alerts raised, by rule and by the severity raised with",
                                     labels=["rule", "severity"])
        for row in self.store.query("SELECT rule_name, severity, n FROM alert_raised_totals ORDER BY 1, 2"):
            raised.add_metric([row["rule_name"], row["severity"]], row["n"])
        yield raised
        stored = GaugeMetricFamily("netsenx_alerts", "Alerts stored now, by severity and status",
                                   labels=["severity", "status"])
        for row in self.store.query("SELECT severity, status, sum(n) AS n FROM alert_counts GROUP BY 1, 2 "
                                    "ORDER BY 1, 2"):
            stored.add_metric([row["severity"], row["status"]], row["n"])
        yield stored

    def notifications(self, now: float) -> Iterator[Metric]:
        messages = GaugeMetricFamily("netsenx_notification_messages", "Outbox messages by channel and status "
                                     "(pending: the backlog; dead: the dead-letter list)", labels=["channel", "status"])
        oldest = GaugeMetricFamily("netsenx_notification_oldest_pending_seconds",
                                   "Age of the oldest message a channel has not delivered yet", labels=["channel"])
        held = GaugeMetricFamily("netsenx_notification_alerts_held", "Alerts held for a channel's next digest",
                                 labels=["channel"])
        for row in self.store.query(
                "SELECT c.name, o.status, count(*) AS n, min(o.created_at) AS oldest FROM notification_outbox o "
                "JOIN notification_channels c ON c.id = o.channel_id GROUP BY c.name, o.status ORDER BY 1, 2"):
            messages.add_metric([row["name"], row["status"]], row["n"])
            if row["status"] == "pending":
                oldest.add_metric([row["name"]], max(0.0, now - row["oldest"]))
        for row in self.store.query(
                "SELECT c.name, count(*) AS n FROM notification_alerts n JOIN notification_channels c "
                "ON c.id = n.channel_id WHERE n.outbox_id IS NULL GROUP BY c.name ORDER BY 1"):
            held.add_metric([row["name"]], row["n"])
        yield from (messages, oldest, held)

    def export(self) -> Iterator[Metric]:
        sent = CounterMetricFamily("netsenx_export_records_sent", "Records the SIEM export delivered, by destination",
                                   labels=["destination"])
        failures = GaugeMetricFamily("netsenx_export_consecutive_failures", "Failed pages in a row, by destination",
                                     labels=["destination"])
        for row in self.store.query("SELECT name, events_sent, failures FROM export_destinations ORDER BY name"):
            sent.add_metric([row["name"]], row["events_sent"])
            failures.add_metric([row["name"]], row["failures"])
        yield from (sent, failures)

    def licence(self, now: float) -> Iterator[Metric]:
        seen = box_license.current_state(self.store, box_license.trusted_keys(), now)
        if seen is None:
            return
        yield GaugeMetricFamily("netsenx_license_days_left", "Whole days until the licence expires (negative after)",
                                value=seen.days_left)
        info = GaugeMetricFamily("netsenx_license_info", "The licence's plan and status (always 1)",
                                 labels=["plan", "status"])
        info.add_metric([seen.license.plan, seen.status], 1)
        yield info

    def disk(self) -> Iterator[Metric]:
        data_dir = self.store.data_dir
        usage = shutil.disk_usage(data_dir.root)
        disk = GaugeMetricFamily("netsenx_disk_bytes", "The data directory's file system", labels=["state"])
        for state, value in (("total", usage.total), ("used", usage.used), ("free", usage.free)):
            disk.add_metric([state], value)
        yield disk
        files = [data_dir.database, data_dir.database.with_name(data_dir.database.name + "-wal")]
        yield GaugeMetricFamily("netsenx_database_bytes", "The encrypted database and its write-ahead log",
                                value=sum(os.path.getsize(path) for path in files if path.exists()))
