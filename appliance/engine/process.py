"""The engine: the single writer that turns ingested batches into alerts and decision traces.

For each pending batch, in arrival order: decode it, feed its records to the rules in packet-time order,
score what they detect, decide (alert / suppressed / below threshold), and commit the alerts, the traces,
the learned baseline and the batch's "done" mark in ONE transaction. A crash at any point therefore loses
nothing and duplicates nothing: the batch is either wholly processed or still pending. The baseline is
written only when it changed: every batch while it learns, afterwards only when a device joins the network,
so a box past its first day does not rewrite half a megabyte of flash per batch.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Protocol

import msgspec

from appliance.alerts.repository import insert_alert
from appliance.box_identity import box_id, signing_key
from appliance.engine.baseline import Baseline
from appliance.engine.detection import Detection, RuleConfig
from appliance.engine.network import SiteConfig
from appliance.engine.rules import RuleSet
from appliance.store.database import Store
from appliance.traces import chain
from appliance.whitelist.models import WhitelistEntry, entry_matches
from appliance.whitelist.repository import list_entries
from sensor.records import Batch, Flow, decode_batch

log = logging.getLogger("netsenx.engine")

ALERT_SEVERITIES = ("CRITICAL", "HIGH", "MEDIUM", "LOW")
EVIDENCE_FLOWS_IN_TRACE = 20


class ScoreLike(Protocol):
    score: float
    shap: dict


class ScorerLike(Protocol):
    model_version: str
    model_sha256: str

    def score_many(self, detections: list[Detection]) -> list[ScoreLike]: ...


class EngineSettings(msgspec.Struct, kw_only=True):
    """What the admin tunes, stored in the settings table (key "engine")."""

    min_score: float = 0.0  # detections scoring below this are traced as below_threshold, not alerted
    rule_overrides: dict[str, RuleConfig] = {}
    site: SiteConfig = msgspec.field(default_factory=SiteConfig)


def load_settings(store: Store) -> EngineSettings:
    return msgspec.convert(store.get_setting("engine", {}), EngineSettings)


class Engine:
    def __init__(
        self,
        store: Store,
        scorer: ScorerLike,
        *,
        settings: EngineSettings | None = None,
        rule_allowed: Callable[[str], bool] = lambda rule_name: True,
    ) -> None:
        self.store = store
        self.scorer = scorer
        self.settings = settings or load_settings(store)
        self.rule_allowed = rule_allowed
        self.box_id = box_id(store)
        self.signing_key = signing_key(store)
        saved = store.query_one("SELECT value FROM engine_state WHERE key = 'baseline'")
        self._stored_baseline: bytes | None = saved["value"] if saved else None
        baseline = Baseline.from_bytes(saved["value"], self.settings.site) if saved else None
        self.rules = RuleSet(self.settings.rule_overrides, self.settings.site, baseline)

    def process_pending(self, limit: int = 100) -> int:
        """Process up to `limit` pending batches. Returns how many were processed."""
        pending = self.store.query(
            "SELECT id, agent_id, seq, payload FROM ingest_batches WHERE done = 0 ORDER BY id LIMIT ?", (limit,)
        )
        for row in pending:
            self.process_batch(row["id"], decode_batch(row["payload"]))
        return len(pending)

    def process_batch(self, batch_row_id: int, batch: Batch) -> list[str]:
        """Returns the ids of the alerts raised or updated."""
        flows_by_uid = {flow.uid: flow for flow in batch.flows}
        detections = list(self._detect(batch))
        scores = self.scorer.score_many(detections) if detections else []
        whitelist = list_entries(self.store, include_expired=False)
        touched = []
        baseline = self.rules.baseline.to_bytes()
        with self.store.write_transaction() as connection:
            for detection, score in zip(detections, scores, strict=True):
                alert_id = self._decide(connection, detection, score, whitelist, flows_by_uid, batch)
                if alert_id:
                    touched.append(alert_id)
            if baseline != self._stored_baseline:
                connection.execute(
                    "INSERT INTO engine_state (key, value) VALUES ('baseline', ?) "
                    "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (baseline,),
                )
            connection.execute("UPDATE ingest_batches SET done = 1 WHERE id = ?", (batch_row_id,))
            chain.checkpoint(connection, self.signing_key, self.box_id)
        self._stored_baseline = baseline  # only once committed: a rolled-back batch leaves the old one stored
        return touched

    def _detect(self, batch: Batch) -> Iterable[Detection]:
        records = [(event.ts, 0, event) for event in batch.events] + [(flow.ts_end, 1, flow) for flow in batch.flows]
        records.sort(key=lambda item: (item[0], item[1]))
        latest = 0.0
        for ts, kind, record in records:
            latest = max(latest, ts)
            yield from (self.rules.on_flow(record) if kind else self.rules.on_event(record))
        if records:
            yield from self.rules.advance(latest)

    def _decide(
        self,
        connection,
        detection: Detection,
        score: ScoreLike,
        whitelist: list[WhitelistEntry],
        flows_by_uid: dict[str, Flow],
        batch: Batch,
    ) -> str | None:
        content = trace_content(detection, score, self.scorer, flows_by_uid, batch)
        matching_entry = next(
            (
                entry
                for entry in whitelist
                if entry_matches(
                    entry,
                    source_ip=detection.source_ip,
                    dest_ip=detection.dest_ip or None,
                    port=detection.port or None,
                    rule_name=detection.rule_name,
                    at=time.time(),
                )
            ),
            None,
        )
        look_alike = None if matching_entry else false_positive_look_alike(connection, detection)
        alert_id = None
        if not self.rule_allowed(detection.rule_name):
            content["outcome"] = "rule_not_licensed"
        elif matching_entry is not None:
            content["outcome"] = "suppressed_whitelist"
            content["whitelist_entry"] = msgspec.structs.asdict(matching_entry)
        elif look_alike is not None:
            content["outcome"] = "suppressed_false_positive"
            content["false_positive_alert_id"] = look_alike
        elif score.score < self.settings.min_score:
            content["outcome"] = "below_threshold"
            content["min_score"] = self.settings.min_score
        else:
            alert_id, raised = upsert_alert(connection, detection, score)
            content["outcome"] = "alert_raised" if raised else "alert_updated"
            content["alert_id"] = alert_id
        trace_id, _ = chain.append(connection, content)
        if alert_id:
            connection.execute("UPDATE alerts SET trace_id = ? WHERE id = ?", (trace_id, alert_id))
        return alert_id


def trace_content(
    detection: Detection, score: ScoreLike, scorer: ScorerLike, flows_by_uid: dict[str, Flow], batch: Batch
) -> dict:
    evidence_flows = [
        msgspec.to_builtins(flows_by_uid[uid]) for uid in detection.evidence_flow_uids if uid in flows_by_uid
    ][:EVIDENCE_FLOWS_IN_TRACE]
    return {
        "outcome": "",
        "rule_name": detection.rule_name,
        "rule_version": detection.rule_version,
        "thresholds": detection.thresholds,
        "severity": alert_severity(detection.severity),
        "incident_key": detection.incident_key,
        "source_ip": detection.source_ip,
        "dest_ip": detection.dest_ip,
        "port": detection.port,
        "protocol": detection.protocol,
        "first_seen": detection.first_seen,
        "last_seen": detection.last_seen,
        "features": detection.features,
        "evidence": detection.evidence,
        "evidence_flow_uids": detection.evidence_flow_uids,
        "evidence_flows": evidence_flows,
        "model": {"version": scorer.model_version, "sha256": scorer.model_sha256},
        "score": score.score,
        "shap": score.shap,
        "alert_id": None,
        "batch": {"agent_id": batch.agent_id, "seq": batch.seq},
    }


def alert_severity(severity: str) -> str:
    return severity if severity in ALERT_SEVERITIES else "LOW"


def false_positive_look_alike(connection, detection: Detection) -> str | None:
    """An alert an analyst already called a false positive for the same rule, source and target."""
    rows = connection.execute(
        "SELECT id FROM alerts WHERE status = 'false_positive' AND rule_name = ? AND source_ip = ? "
        "AND coalesce(dest_ip, '') = ? AND coalesce(port, 0) = ? AND incident_key IS NOT ? LIMIT 1",
        (detection.rule_name, detection.source_ip, detection.dest_ip, detection.port, detection.incident_key),
    ).fetchall()
    return rows[0][0] if rows else None


def upsert_alert(connection, detection: Detection, score: ScoreLike) -> tuple[str, bool]:
    """One alert per incident: (alert id, True when newly raised)."""
    shap_json = json.dumps(score.shap)
    evidence = json.dumps(detection.evidence)
    existing = connection.execute("SELECT id FROM alerts WHERE incident_key = ?", (detection.incident_key,)).fetchall()
    if existing:
        alert_id = existing[0][0]
        connection.execute(
            "UPDATE alerts SET score = ?, shap_json = ?, evidence = ?, last_seen = ?, severity = ?, updated_at = ? "
            "WHERE id = ?",
            (
                score.score,
                shap_json,
                evidence,
                detection.last_seen,
                alert_severity(detection.severity),
                time.time(),
                alert_id,
            ),
        )
        return alert_id, False
    alert_id = insert_alert(
        connection,
        severity=alert_severity(detection.severity),
        rule_name=detection.rule_name,
        source_ip=detection.source_ip,
        dest_ip=detection.dest_ip or None,
        port=detection.port or None,
        protocol=detection.protocol or None,
        score=score.score,
        timestamp=int(detection.first_seen),
        shap_json=score.shap,
    )
    connection.execute(
        "UPDATE alerts SET incident_key = ?, evidence = ?, first_seen = ?, last_seen = ? WHERE id = ?",
        (detection.incident_key, evidence, detection.first_seen, detection.last_seen, alert_id),
    )
    return alert_id, True
