"""What goes into a NIS2 Art.23 or GDPR Art.33 report, as data (sections of fields and tables), before any
layout. Each item the law asks for is prefilled from the box where it can be; what only the entity can
know is marked `to_complete` with what to write."""

from __future__ import annotations

import ipaddress
import re
import time
from collections.abc import Callable

import msgspec

from appliance import __version__
from appliance.compliance.incidents import ONGOING
from appliance.compliance.regimes import Item, Stage, stage_deadlines
from appliance.engine.rules import RULE_MODULES
from appliance.reports.evidence import AlertRecord, ReportSubject
from appliance.reports.plain_words import feature_in_words
from appliance.traces.chain import REPORT_EVIDENCE_FORMAT

SEVERITY_ORDER = ("CRITICAL", "HIGH", "MEDIUM", "LOW")
# Detections that by their nature point at a malicious or unlawful act (Art.23(4)(a)), as each rule says.
MALICIOUS_BY_NATURE = {
    name: module.MALICIOUS_NATURE for name, module in RULE_MODULES.items() if module.MALICIOUS_NATURE is not None
}
SHAP_FEATURES_SHOWN = 6
IOCS_SHOWN = 40


class Field(msgspec.Struct):
    label: str
    value: str = ""
    to_complete: str = ""   # what the admin must still write; empty when the box could fill it in
    mono: bool = False


class Table(msgspec.Struct):
    columns: list[str]
    widths: list[int]       # relative widths
    rows: list[list[str]]


class Section(msgspec.Struct):
    title: str
    fields: list[Field] = []
    table: Table | None = None
    note: str = ""
    compact: bool = False   # labels beside the values: for short facts (names, times, references)


class Report(msgspec.Struct):
    kind: str
    title: str
    subtitle: str
    reference: str
    recipient: str
    generated_at: float
    sections: list[Section]
    keywords: list[str]

    def to_complete(self) -> int:
        return sum(1 for section in self.sections for field in section.fields if field.to_complete)


def when(moment: float | None) -> str:
    return "—" if moment is None else time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(moment))


def yes_no(value: bool | None) -> str | None:
    return None if value is None else ("Yes" if value else "No")


def highest_severity(alerts: list[AlertRecord]) -> str:
    return min((alert.severity for alert in alerts), key=SEVERITY_ORDER.index)


def affected_hosts(alerts: list[AlertRecord]) -> list[str]:
    return sorted({alert.source_ip for alert in alerts} | {alert.dest_ip for alert in alerts if alert.dest_ip})


def external_addresses(subject: ReportSubject) -> list[str]:
    """Addresses outside the site's configured internal networks: the hint that an incident may reach beyond
    the entity (and borders)."""
    return sorted(host for host in affected_hosts(subject.alerts) if not subject.site.is_internal(host))


def activity_span(alerts: list[AlertRecord]) -> tuple[float, float]:
    """From the first packet of the earliest alert to the last packet of the latest (alerts the engine raised
    carry both; others only their timestamp)."""
    starts = [alert.first_seen if alert.first_seen is not None else alert.timestamp for alert in alerts]
    ends = [alert.last_seen if alert.last_seen is not None else alert.timestamp for alert in alerts]
    start = min(starts)
    return start, max(*ends, start)


def duration_in_words(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if days:
        return f"{days} d {hours % 24} h"
    return f"{hours} h {minutes % 60} min" if hours else f"{minutes} min {seconds % 60} s"


def span_in_words(alerts: list[AlertRecord]) -> str:
    start, end = activity_span(alerts)
    return f"{when(start)} to {when(end)} ({duration_in_words(end - start)})"


# What a CSIRT can search its own logs and feeds for. A rule's evidence also holds counts and the thresholds it
# applied (effective_min_upload_bytes, off_hours): those explain the detection, they indicate nothing.
_MAC = re.compile(r"^[0-9a-f]{2}(:[0-9a-f]{2}){5}$", re.IGNORECASE)
_HASH = re.compile(r"^([0-9a-f]{32}|[0-9a-f]{40}|[0-9a-f]{64})$", re.IGNORECASE)
_DOMAIN = re.compile(r"^(?=.{4,253}$)([a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]*[a-z0-9]$", re.IGNORECASE)
INDICATOR_KINDS = ("addresses", "domains", "ports", "TLS client fingerprints (JA3)", "hashes", "MAC addresses")


def indicator_kind(key: str, value: object) -> str | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return "ports" if "port" in key and 0 < value <= 65535 else None
    if not isinstance(value, str):
        return None
    text = value.strip().rstrip(".")
    try:
        ipaddress.ip_address(text)
        return "addresses"
    except ValueError:
        pass
    if _MAC.match(text):
        return "MAC addresses"
    if _HASH.match(text):
        return "TLS client fingerprints (JA3)" if "ja3" in key else "hashes"
    return "domains" if _DOMAIN.match(text) else None


def evidence_indicators(evidence: object, key: str = "") -> dict[str, list[str]]:
    """The indicators in an alert's evidence, by kind, each once, in the order found."""
    found: dict[str, list[str]] = {}
    values = evidence.items() if isinstance(evidence, dict) else ((key, item) for item in evidence)
    for name, value in values:
        if isinstance(value, (dict, list)):
            nested = evidence_indicators(value, name.lower())
        else:
            kind = indicator_kind(name.lower(), value)
            nested = {kind: [str(value).strip().rstrip(".")]} if kind else {}
        for kind, items in nested.items():
            found.setdefault(kind, [])
            found[kind] += [item for item in items if item not in found[kind]]
    return found


def indicators_of_compromise(alerts: list[AlertRecord]) -> list[str]:
    indicators = []
    for alert in alerts:
        target = f"{alert.dest_ip or '—'}" + (f":{alert.port}" if alert.port else "") + \
            (f"/{alert.protocol}" if alert.protocol else "")
        indicators.append(f"{alert.rule_name} {alert.source_ip} → {target}, active {span_in_words([alert])}")
        found = evidence_indicators(alert.evidence)
        for kind in INDICATOR_KINDS:
            values = found.get(kind, [])
            if values:
                shown = ", ".join(values[:10]) + (f" (+{len(values) - 10} more)" if len(values) > 10 else "")
                indicators.append(f"  {kind}: {shown}")
    if len(indicators) > IOCS_SHOWN:
        indicators = [*indicators[:IOCS_SHOWN], f"... {len(indicators) - IOCS_SHOWN} more lines in the attachment"]
    return indicators


def shap_contributions(shap: dict) -> list[tuple[str, float]]:
    """Feature contributions from a SHAP explanation, largest effect first. Accepts {"features": {name: v}},
    {"contributions": {...}}, {"shap_values": {...}} or a flat {name: v} mapping."""
    nested = [shap[key] for key in ("features", "contributions", "shap_values") if isinstance(shap.get(key), dict)]
    values = nested[0] if nested else shap
    numeric = [(str(name), float(value)) for name, value in values.items()
               if isinstance(value, (int, float)) and not isinstance(value, bool) and name != "base_value"]
    return sorted(numeric, key=lambda item: -abs(item[1]))


def detection_summary(alerts: list[AlertRecord]) -> str:
    rules: dict[str, int] = {}
    for alert in alerts:
        rules[alert.rule_name] = rules.get(alert.rule_name, 0) + 1
    return ", ".join(f"{rule} \u00d7{count}" for rule, count in sorted(rules.items(), key=lambda item: -item[1]))


# --- NIS2 items: one prefiller per item id in rules/nis2.json; an id without one is left to the admin ---

def suspected_malicious(subject: ReportSubject, item: Item) -> Field:
    recorded = yes_no(subject.incident.suspected_malicious if subject.incident else None)
    if recorded is not None:
        return Field(item.label, recorded)
    natures = sorted({MALICIOUS_BY_NATURE[a.rule_name] for a in subject.alerts if a.rule_name in MALICIOUS_BY_NATURE})
    hint = f"Detections indicate {', '.join(natures)}." if natures else "No detection is malicious by nature."
    return Field(item.label, hint, to_complete="State Yes or No (record it on the incident: suspected_malicious).")


def cross_border(subject: ReportSubject, item: Item) -> Field:
    recorded = yes_no(subject.incident.cross_border if subject.incident else None)
    if recorded is not None:
        return Field(item.label, recorded)
    external = external_addresses(subject)
    hint = (f"Addresses outside the internal networks involved: {', '.join(external[:8])}." if external
            else f"Only addresses of the internal networks ({', '.join(subject.site.internal_networks)}) are "
                 "involved.")
    return Field(item.label, hint, to_complete="State whether services in other Member States are or may be "
                                               "affected (record it on the incident: cross_border).")


def initial_assessment(subject: ReportSubject, item: Item) -> Field:
    hosts = affected_hosts(subject.alerts)
    significant = yes_no(subject.incident.significant if subject.incident else None)
    value = (f"Highest detected severity: {highest_severity(subject.alerts)}. {subject.alerts_total} alert(s): "
             f"{detection_summary(subject.alerts)}. Hosts involved ({len(hosts)}): {', '.join(hosts[:12])}"
             f"{' ...' if len(hosts) > 12 else ''}. Significant (Art.23(3)): {significant or 'not yet assessed'}.")
    impact = subject.incident.impact if subject.incident else ""
    if impact:
        return Field(item.label, f"{value}\nImpact: {impact}")
    return Field(item.label, value, to_complete="Describe the impact on the services (disruption, financial loss, "
                                                "persons affected) and whether the incident is significant.")


def iocs(subject: ReportSubject, item: Item) -> Field:
    return Field(item.label, "\n".join(indicators_of_compromise(subject.alerts)), mono=True)


def status_update(subject: ReportSubject, item: Item) -> Field:
    incident = subject.incident
    if incident is None:
        return Field(item.label, "", to_complete="Open an incident for these alerts and describe its current status.")
    value = f"Status: {incident.status} (last updated {when(incident.updated_at)})."
    if incident.mitigation:
        return Field(item.label, f"{value}\n{incident.mitigation}")
    return Field(item.label, value, to_complete="Describe what has happened since the last report.")


def detailed_description(subject: ReportSubject, item: Item) -> Field:
    description = subject.incident.description if subject.incident else ""
    facts = (f"Activity detected from {span_in_words(subject.alerts)}; {detection_summary(subject.alerts)}; "
             f"highest severity {highest_severity(subject.alerts)}.")
    impact = subject.incident.impact if subject.incident else ""
    text = "\n".join(part for part in (description, facts, f"Impact: {impact}" if impact else "") if part)
    missing = [name for name, value in (("the description", description), ("the impact", impact)) if not value]
    return Field(item.label, text, to_complete=f"Complete {' and '.join(missing)} of the incident." if missing else "")


def root_cause(subject: ReportSubject, item: Item) -> Field:
    recorded = subject.incident.root_cause if subject.incident else ""
    if recorded:
        return Field(item.label, recorded)
    natures = sorted({MALICIOUS_BY_NATURE.get(a.rule_name, a.rule_name) for a in subject.alerts})
    return Field(item.label, f"Threat types detected: {', '.join(natures)}.",
                 to_complete="State the root cause found by the investigation (record it on the incident: root_cause).")


def mitigation(subject: ReportSubject, item: Item) -> Field:
    recorded = subject.incident.mitigation if subject.incident else ""
    if recorded:
        return Field(item.label, recorded)
    return Field(item.label, "", to_complete="List the mitigation measures applied and still ongoing.")


NIS2_PREFILL: dict[str, Callable[[ReportSubject, Item], Field]] = {
    "suspected_malicious": suspected_malicious, "cross_border": cross_border,
    "initial_assessment": initial_assessment, "indicators_of_compromise": iocs, "status_update": status_update,
    "detailed_description": detailed_description, "root_cause": root_cause, "mitigation": mitigation,
}


# --- GDPR Art.33(3) items ---

def breach_nature(subject: ReportSubject, item: Item) -> Field:
    breach = subject.breach
    if breach is None or not breach.nature:
        return Field(item.label, f"Detections: {detection_summary(subject.alerts)}.",
                     to_complete="Describe the breach, the categories and approximate number of data subjects and "
                                 "of records (record the breach under POST /compliance/breaches).")
    counts = [f"{label}: {'approx. ' + format(value, ',') if value is not None else 'unknown'}"
              for label, value in (("Data subjects", breach.data_subjects_approx),
                                   ("Records", breach.records_approx))]
    categories = f"Categories of personal data: {', '.join(breach.data_categories) or 'not stated'}."
    missing = breach.data_subjects_approx is None or breach.records_approx is None or not breach.data_categories
    return Field(item.label, f"{breach.nature}\n{categories}\n{'; '.join(counts)}.",
                 to_complete="Give the categories and approximate numbers where still unknown." if missing else "")


def dpo_contact(subject: ReportSubject, item: Item) -> Field:
    contact = subject.settings.dpo_contact
    return setting_field(item.label, contact, "dpo_contact")


def likely_consequences(subject: ReportSubject, item: Item) -> Field:
    text = subject.breach.likely_consequences if subject.breach else ""
    return Field(item.label, text,
                 to_complete="" if text else "Describe the likely consequences for the data subjects.")


def measures(subject: ReportSubject, item: Item) -> Field:
    text = (subject.breach.measures if subject.breach else "") or (
        subject.incident.mitigation if subject.incident else "")
    return Field(item.label, text, to_complete="" if text else "List the measures taken or proposed, including "
                                                              "those mitigating possible adverse effects.")


def delay_reason(subject: ReportSubject, item: Item) -> Field:
    due = subject.aware_at + subject.regime.stage("notification").due.hours * 3600
    breach = subject.breach
    sent = breach.notified_at if breach is not None and breach.notified else subject.generated_at
    if sent <= due:
        return Field(item.label, f"Not applicable: within the deadline ({when(due)}).")
    if breach is not None and breach.delay_reason:
        return Field(item.label, breach.delay_reason)
    return Field(item.label, f"The deadline was {when(due)}.", to_complete="State the reasons for the delay.")


def data_subject_communication(subject: ReportSubject, item: Item) -> Field:
    breach = subject.breach
    if breach is None:
        return Field(item.label, "", to_complete="Assess whether the breach is likely to result in a high risk.")
    if not breach.high_risk:
        return Field(item.label, "Not required: the breach is not assessed as likely to result in a high risk.")
    if breach.subjects_informed:
        return Field(item.label, "High risk: the data subjects have been informed.")
    return Field(item.label, "High risk: Art. 34 requires informing the data subjects without undue delay.",
                 to_complete="Inform the data subjects and record it (subjects_informed).")


GDPR_PREFILL: dict[str, Callable[[ReportSubject, Item], Field]] = {
    "nature": breach_nature, "dpo_contact": dpo_contact, "likely_consequences": likely_consequences,
    "measures": measures, "delay_reason": delay_reason, "data_subject_communication": data_subject_communication,
}


# --- sections shared by both reports ---

def setting_field(label: str, value: str, setting: str) -> Field:
    return Field(label, value, to_complete="" if value else f"Configure {setting} under PUT /compliance/settings.")


def entity_section(subject: ReportSubject, title: str, contact_label: str, contact_value: str,
                   contact_setting: str) -> Section:
    settings = subject.settings
    country = subject.nis2.member_states.get(settings.member_state)
    return Section(title, fields=[
        setting_field("Name", settings.entity_name, "entity_name"),
        setting_field("Sector", settings.sector.replace("_", " "), "sector"),
        setting_field("Member State", f"{country.name} ({settings.member_state})" if country else settings.member_state,
                      "member_state"),
        setting_field("Contact for this report", settings.entity_contact, "entity_contact"),
        setting_field(contact_label, contact_value, contact_setting),
    ], compact=True)


def incident_section(subject: ReportSubject) -> Section:
    incident = subject.incident
    fields = [
        Field("Incident reference", incident.reference if incident else "",
              to_complete="" if incident else "These alerts are not grouped into an incident yet: open one "
                                              "(POST /compliance/incidents) to record the awareness time."),
        Field("Title", incident.title if incident else
              f"{subject.alerts[0].rule_name} on {subject.alerts[0].source_ip}"),
        Field("Status", incident.status if incident else "open"),
        Field("First activity observed", when(activity_span(subject.alerts)[0])),
        Field("Last activity observed", when(activity_span(subject.alerts)[1])),
        Field("Alert raised by the appliance", when(min(alert.created_at for alert in subject.alerts))),
        Field("Entity became aware", when(subject.aware_at) + ("" if incident else " (assumed: the first detection)")),
        Field("Alerts", f"{subject.alerts_total}: {detection_summary(subject.alerts)}"),
    ]
    return Section("Incident", fields=fields, compact=True)


def deadlines_section(subject: ReportSubject, current_stage: str | None) -> Section:
    incident = subject.incident
    ongoing = incident.status in ("open", "contained") if incident else True
    deadlines = stage_deadlines(subject.regime, aware_at=subject.aware_at,
                                submissions=incident.submissions if incident else {},
                                requested_at=incident.intermediate_requested_at if incident else None,
                                ongoing=ongoing, now=subject.generated_at)
    rows = [[("» " if deadline.stage == current_stage else "") + deadline.title, deadline.article, deadline.basis,
             when(deadline.due_at) if deadline.due_at is not None else "on request",
             deadline.state.replace("_", " ") + (f" {when(deadline.submitted_at)}" if deadline.submitted_at else "")]
            for deadline in deadlines]
    return Section("Timeline and deadlines", table=Table(["Stage", "Article", "Due", "Deadline", "State"],
                                                         [24, 15, 28, 22, 18], rows),
                   note=f"Deadlines per {subject.regime.legal_basis}, counted from awareness "
                        f"({when(subject.aware_at)}).")


def detection_section(subject: ReportSubject) -> Section:
    rows = [[when(alert.timestamp), alert.severity, alert.rule_name,
             f"{alert.source_ip} → {alert.dest_ip or '—'}{':' + str(alert.port) if alert.port else ''}",
             f"{alert.score:.2f}", alert.status.replace("_", " ")] for alert in subject.alerts]
    primary = max(subject.alerts, key=lambda alert: alert.score)
    contributions = shap_contributions(primary.shap)[:SHAP_FEATURES_SHOWN]
    explanation = ("; ".join(f"{feature_in_words(name)} {value:+.3f}" for name, value in contributions)
                   if contributions else "no model explanation recorded")
    more = subject.alerts_total - len(subject.alerts)
    return Section("Detection evidence", table=Table(["Time", "Severity", "Rule", "Hosts", "Score", "Status"],
                                                     [22, 13, 22, 27, 8, 12], rows),
                   fields=[Field(f"Why the model scored {primary.rule_name} {primary.score:.2f} (SHAP: what raised "
                                 "(+) or lowered (-) the score most)",
                                 explanation, mono=True)],
                   note=f"{more} older alert(s) are listed in the attachment only." if more > 0 else "")


def proof_section(subject: ReportSubject) -> Section:
    traces = sum(len(trail["trails"]) for trail in subject.proof_trails)
    value = (f"{traces} decision trace(s) with their hash chain and signed checkpoint are attached as "
             "proof-trail.json. Verify offline: appliance traces verify proof-trail.json"
             if traces else
             "No decision traces were recorded for these alerts; the attachment holds the alert records.")
    return Section("Proof trail", fields=[Field("Attachment", value)])


def sign_off_section() -> Section:
    return Section("Sign-off", fields=[
        Field("Name and role of the person submitting", "", to_complete="Name and role."),
        Field("Date and signature", "", to_complete="Date and sign before submission."),
    ], compact=True)


def left_to_admin(subject: ReportSubject, item: Item) -> Field:
    return Field(item.label, "", to_complete="Complete this item.")


def fill_items(prefill: dict[str, Callable[[ReportSubject, Item], Field]], subject: ReportSubject,
               stage: Stage) -> list[Field]:
    return [prefill.get(item.id, left_to_admin)(subject, item) for item in stage.items]


def subject_reference(subject: ReportSubject) -> str:
    return subject.incident.reference if subject.incident else f"ALERT-{subject.alerts[0].id[:8]}"


def significance_section(subject: ReportSubject) -> Section:
    """Art.23(3)'s test for "significant", then the Implementing Regulation's thresholds as benchmarks."""
    thresholds = subject.regime.reference_thresholds or {"criteria": [], "source": ""}
    criteria = subject.regime.significance_criteria + thresholds["criteria"]
    significant = yes_no(subject.incident.significant if subject.incident else None)
    return Section("Is the incident significant?", compact=True, fields=[
        *(Field(criterion["article"], criterion["text"]) for criterion in criteria),
        Field("Assessment", significant or "",
              to_complete="" if significant else "State whether the incident is significant (record it on the "
                                                 "incident: significant)."),
    ], note=f"Benchmarks: {thresholds['source']}.")


def still_ongoing_warning(subject: ReportSubject, stage: Stage) -> str:
    """A final report describes a handled incident; while it is ongoing, Art.23(4)(e) asks for a progress
    report in its place."""
    incident = subject.incident
    status = incident.status if incident else "open"
    if stage.id != "final" or status not in ONGOING:
        return ""
    progress = subject.regime.stage("progress")
    instead = f" send the {progress.title.lower()} ({progress.article}) instead" if progress else ""
    return (f"WARNING: the incident is still {status}. A final report is for a handled incident: mark it resolved "
            f"first, or{instead or ' wait until it is handled'}.")


def nis2_report(subject: ReportSubject, stage: Stage) -> Report:
    items = fill_items(NIS2_PREFILL, subject, stage)
    reference = subject_reference(subject)
    return Report(
        kind="nis2", title=f"NIS2 {stage.title}", subtitle=f"{stage.article} of {subject.regime.legal_basis}",
        reference=reference, recipient=subject.regime.recipient,
        generated_at=subject.generated_at,
        sections=[
            entity_section(subject, "Reporting entity", "CSIRT / competent authority contact",
                           subject.settings.csirt_contact or subject.settings.authority_contact, "csirt_contact"),
            incident_section(subject),
            deadlines_section(subject, stage.id),
            Section(f"What {stage.article} requires in the {stage.title.lower()}", fields=items,
                    note=still_ongoing_warning(subject, stage)),
            significance_section(subject),
            detection_section(subject), proof_section(subject), sign_off_section(),
        ],
        keywords=["NIS2", "Article 23", stage.title, reference],
    )


def gdpr_report(subject: ReportSubject, stage: Stage) -> Report:
    items = fill_items(GDPR_PREFILL, subject, stage)
    reference = subject_reference(subject)
    return Report(
        kind="gdpr", title="GDPR Personal Data Breach Notification",
        subtitle=f"{stage.article} of {subject.regime.legal_basis}",
        reference=reference, recipient=subject.regime.recipient,
        generated_at=subject.generated_at,
        sections=[
            entity_section(subject, "Controller", "Supervisory authority contact", subject.settings.authority_contact,
                           "authority_contact"),
            incident_section(subject),
            deadlines_section(subject, stage.id),
            Section(f"What the {stage.title.lower()} must contain", fields=items, note=subject.regime.phased_reporting),
            detection_section(subject), proof_section(subject), sign_off_section(),
        ],
        keywords=["GDPR", "Article 33", "personal data breach", reference],
    )


def attachment(subject: ReportSubject, report: Report) -> dict:
    """The proof-trail JSON embedded in the PDF: the alerts as recorded and every decision's proof trail."""
    return {
        "format": REPORT_EVIDENCE_FORMAT,
        "generated_by": f"NetSenX appliance {__version__}",
        "report": {"kind": report.kind, "title": report.title, "reference": report.reference,
                   "generated_at": report.generated_at},
        "incident": msgspec.to_builtins(subject.incident) if subject.incident else None,
        "alerts_total": subject.alerts_total,
        "alerts": msgspec.to_builtins(subject.alerts),
        "proof_trails": subject.proof_trails,
    }
