"""What a report is about: the incident (or a lone alert), its alerts with their evidence, and the proof
trail of the decisions that raised them."""

from __future__ import annotations

import json
import time

import msgspec

from appliance.alerts.models import AlertFacts
from appliance.compliance import breaches, incidents, settings
from appliance.compliance.breaches import BreachIn
from appliance.compliance.incidents import Incident
from appliance.compliance.regimes import Regime
from appliance.compliance.settings import ComplianceSettings
from appliance.engine.network import SiteConfig
from appliance.engine.process import load_settings as load_engine_settings
from appliance.store.database import Store
from appliance.traces import chain

MAX_ALERTS = 200  # a report lists at most this many alerts (the newest); the attachment says how many more


class AlertRecord(AlertFacts):
    """An alert as a report embeds it (the proof-trail attachment keeps these names)."""

    notes: str
    created_at: float
    first_seen: float | None
    last_seen: float | None
    shap: dict
    evidence: dict


class ReportSubject(msgspec.Struct):
    settings: ComplianceSettings
    regime: Regime                  # the report's regime
    nis2: Regime                    # for the incident's deadlines and the member states' names
    incident: Incident | None       # None: the alert is not (yet) grouped into an incident
    alerts: list[AlertRecord]       # newest first
    alerts_total: int
    breach: BreachIn | None
    proof_trails: list[dict]
    generated_at: float
    site: SiteConfig                # the internal networks: what is inside the entity and what is not

    @property
    def aware_at(self) -> float:
        """Recorded awareness; without an incident, the earliest detection stands in for it."""
        if self.incident is not None:
            return self.incident.aware_at
        return min(alert.created_at for alert in self.alerts)


class SubjectNotFound(LookupError):
    pass


def proof_trail_for_alert(store: Store, alert_id: str) -> dict | None:
    """The proof trails of every decision trace that raised or updated this alert (what an auditor needs to
    verify it offline with `appliance traces verify`), or None when the engine recorded none."""
    connection = store.connection()
    trace_ids = [row[0] for row in connection.execute(
        "SELECT id FROM decision_traces WHERE alert_id = ? ORDER BY seq", (alert_id,)).fetchall()]
    if not trace_ids:
        return None
    return {"alert_id": alert_id, "trails": [chain.proof_trail(connection, trace_id) for trace_id in trace_ids]}


def load_alerts(store: Store, alert_ids: list[str]) -> list[AlertRecord]:
    rows = store.query(
        "SELECT id, severity, rule_name, source_ip, dest_ip, port, protocol, score, timestamp, status, notes, "
        "created_at, first_seen, last_seen, shap_json, evidence FROM alerts "
        f"WHERE id IN ({','.join('?' * len(alert_ids))}) ORDER BY timestamp DESC, id DESC LIMIT ?",
        (*alert_ids, MAX_ALERTS))
    return [AlertRecord(**{name: value for name, value in row.items() if name not in ("shap_json", "evidence")},
                        shap=json.loads(row["shap_json"] or "{}"), evidence=json.loads(row["evidence"] or "{}"))
            for row in rows]


def report_subject(store: Store, regime_loader, *, regime_name: str, alert_id: str | None,
                   incident_id: str | None) -> ReportSubject:
    """Everything one report needs. `regime_loader(store, name)` gives the regime with national overrides.
    Raises SubjectNotFound naming what is missing."""
    if incident_id is None:
        if store.query_one("SELECT 1 FROM alerts WHERE id = ?", (alert_id,)) is None:
            raise SubjectNotFound(f"no alert {alert_id}")
        incident_id = incidents.incident_for_alert(store, alert_id)
    nis2 = regime_loader(store, "nis2")
    incident = None if incident_id is None else incidents.get(store, incident_id, nis2)
    if incident_id is not None and incident is None:
        raise SubjectNotFound(f"no incident {incident_id}")
    alert_ids = incident.alert_ids if incident is not None else [alert_id]
    alerts = load_alerts(store, alert_ids)
    if not alerts:
        raise SubjectNotFound(f"incident {incident_id} has no alerts left on this box")
    trails = [trail for alert in alerts if (trail := proof_trail_for_alert(store, alert.id)) is not None]
    return ReportSubject(
        settings=settings.load(store), regime=nis2 if regime_name == "nis2" else regime_loader(store, regime_name),
        nis2=nis2,
        incident=incident, alerts=alerts, alerts_total=len(alert_ids),
        breach=breaches.for_incident(store, incident.id) if incident is not None else None,
        proof_trails=trails, generated_at=time.time(), site=load_engine_settings(store).site,
    )
