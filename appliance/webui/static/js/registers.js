// The NIS2 incident register and the GDPR breach register: each entry with its deadline clocks (NIS2: 24 h
// early warning, 72 h notification, one month final report; GDPR: 72 h), the reports made from it, and the
// PDF reports generated for the NIS2 stage chosen.

import { api, download } from "./api.js";
import { conversationsPanelBody, packetsButton } from "./conversations.js";
import {
  errorNotice, formatTime, fromTimeField, h, pageHeader, pager, panel, successNotice, timeZoneName, toTimeField,
} from "./elements.js";
import { notesPanel } from "./notes.js";

const PAGE_SIZE = 30;
const STATUSES = [["open", "Open"], ["contained", "Contained"], ["resolved", "Resolved"], ["closed", "Closed"]];
const STATE_LABELS = {
  submitted: "Sent", pending: "Due", overdue: "Overdue", on_request: "Only if the CSIRT asks",
  not_applicable: "Not needed",
};
const ASSESSMENTS = [["significant", "Significant incident (Art.23(3))"],
  ["suspected_malicious", "Suspected unlawful or malicious"], ["cross_border", "Cross-border impact"]];

const canRecord = (context) => context.user.role !== "viewer";
const now = () => Math.floor(Date.now() / 1000);
const timeLabel = (text) => `${text} (${timeZoneName()})`;

// "due in 5 h 12 min" / "4 h 3 min overdue": the clock a person reads at a glance.
export function clock(dueAt, at = now()) {
  const minutes = Math.floor(Math.abs(dueAt - at) / 60);
  const hours = Math.floor(minutes / 60);
  // Hours up to two days (the 24 h and 72 h clocks read as hours), days beyond.
  const span = hours >= 48 ? `${Math.floor(hours / 24)} d ${hours % 24} h`
    : hours ? `${hours} h ${minutes % 60} min` : `${minutes} min`;
  return dueAt >= at ? `due in ${span}` : `${span} overdue`;
}

function deadlineText(deadline) {
  if (deadline.state === "submitted") {
    return `sent ${formatTime(deadline.submitted_at)}${deadline.late ? " (late)" : ""}`;
  }
  if (deadline.due_at === null) return STATE_LABELS[deadline.state] ?? deadline.state;
  return `${formatTime(deadline.due_at)} · ${clock(deadline.due_at)}`;
}

const nextDeadline = (incident) => incident.deadlines.find((deadline) => ["overdue", "pending"].includes(deadline.state));

function stateBadge(state) {
  return h("span", { class: `badge deadline-${state}`, "data-state": state }, STATE_LABELS[state] ?? state);
}

function outcomeBox() {
  return h("div", { class: "form-outcome", "aria-live": "polite" });
}

// Runs a change; its success redraws the page with a note, its failure shows the box's words where it was asked.
const attempt = (outcome, action) => async (event) => {
  event?.preventDefault();
  outcome.replaceChildren();
  try {
    await action();
  } catch (error) {
    outcome.replaceChildren(errorNotice(error));
  }
};

// --- incidents ----------------------------------------------------------------------------------------------

function newIncidentForm(context) {
  const outcome = outcomeBox();
  const alertIds = context.params.getAll("alert").join("\n");
  const form = h("form", { class: "form-grid", "aria-label": "Open an incident", novalidate: true },
    h("label", { class: "span-2" }, "Title", h("input", { name: "title", required: true, maxlength: 200 })),
    h("label", {}, timeLabel("Aware since"), h("input", { name: "aware_at", type: "datetime-local", value: toTimeField(now()) })),
    h("label", { class: "span-2" }, "Alert IDs (one per line)",
      h("textarea", { name: "alert_ids", rows: 2, class: "mono", spellcheck: "false", value: alertIds })),
    h("label", { class: "span-all" }, "What happened", h("textarea", { name: "description", rows: 3 })),
    h("div", { class: "form-end" }, h("button", { class: "button button-primary", type: "submit" }, "Open incident")),
    h("div", { class: "span-all" }, outcome));
  form.addEventListener("submit", attempt(outcome, async () => {
    const fields = Object.fromEntries(new FormData(form));
    const incident = await api.post("/compliance/incidents", {
      title: fields.title.trim(), description: fields.description.trim(),
      alert_ids: fields.alert_ids.split(/\s+/).filter(Boolean),
      aware_at: fields.aware_at ? fromTimeField(fields.aware_at) : undefined,
    });
    context.navigate(`incidents/${encodeURIComponent(incident.id)}`);
  }));
  return form;
}

function incidentRow(incident) {
  const next = nextDeadline(incident);
  return h("tr", { "data-incident-id": incident.id },
    h("td", { class: "mono nowrap" }, h("a", { href: `#/incidents/${encodeURIComponent(incident.id)}` }, incident.reference)),
    h("td", {}, incident.title),
    h("td", {}, STATUSES.find(([value]) => value === incident.status)?.[1] ?? incident.status),
    h("td", { class: "nowrap" }, formatTime(incident.aware_at)),
    h("td", {}, next ? [stateBadge(next.state), ` ${next.title}: ${deadlineText(next)}`] : "nothing due"),
    h("td", { class: "numeric" }, incident.alert_ids.length));
}

export async function incidentsPage(view, context) {
  const offset = Math.max(0, Number(context.params.get("offset")) || 0);
  const found = await api.get("/compliance/incidents", { limit: PAGE_SIZE, offset });
  view.append(
    pageHeader("Incidents", h("span", { class: "muted" }, "NIS2 Art.23 register")),
    found.total === 0 ? panel(null, h("p", { class: "empty" }, "No incident recorded yet."))
      : h("div", { class: "table-wrap panel" }, h("table", { class: "table" },
        h("thead", {}, h("tr", {}, ["Reference", "Title", "Status", "Aware since", "Next deadline", "Alerts"]
          .map((title) => h("th", { scope: "col" }, title)))),
        h("tbody", {}, found.incidents.map(incidentRow)))),
    found.total > PAGE_SIZE ? pager({ offset, limit: PAGE_SIZE, total: found.total, shown: found.incidents.length,
      go: (next) => context.navigate("incidents", { offset: next }) }) : null,
    canRecord(context) ? panel("Open an incident", newIncidentForm(context)) : null);
}

function deadlinesTable(incident, canEdit, change) {
  return h("div", { class: "table-wrap" }, h("table", { class: "table deadlines" },
    h("thead", {}, h("tr", {}, ["Report", "When", "State", ""].map((title) => h("th", { scope: "col" }, title)))),
    h("tbody", {}, incident.deadlines.map((deadline) => h("tr", { "data-stage": deadline.stage },
      h("td", {}, h("strong", {}, deadline.title), h("div", { class: "muted small" }, `${deadline.article} · ${deadline.basis}`)),
      h("td", {}, deadlineText(deadline)),
      h("td", {}, stateBadge(deadline.state)),
      h("td", {}, !canEdit ? null
        : ["pending", "overdue"].includes(deadline.state)
          ? h("button", { class: "button", type: "button", onclick: change({ submissions: { [deadline.stage]: now() } },
            `${deadline.title} recorded as sent.`) }, "Mark as sent now")
          : deadline.state === "on_request"
            ? h("button", { class: "button", type: "button", onclick: change({ intermediate_requested_at: now() },
              "The CSIRT's request is recorded: the report is now due.") }, "CSIRT asked for it")
            : null))))));
}

const TRISTATE = [["", "Not assessed yet"], ["true", "Yes"], ["false", "No"]];

function incidentForm(incident, canEdit, change) {
  const outcome = outcomeBox();
  const choice = (name, label) => h("label", {}, label, h("select", { name }, TRISTATE.map(([value, text]) =>
    h("option", { value, selected: String(incident[name] ?? "") === value }, text))));
  const text = (name, label) => h("label", { class: "span-all" }, label, h("textarea", { name, rows: 2, value: incident[name] }));
  const form = h("form", { class: "stack", "aria-label": "Incident details", novalidate: true },
    h("fieldset", { class: "form-grid plain-fieldset", disabled: !canEdit },
      h("legend", { class: "visually-hidden" }, "Incident details"),
      h("label", {}, "Status", h("select", { name: "status" }, STATUSES.map(([value, label]) =>
        h("option", { value, selected: incident.status === value }, label)))),
      ASSESSMENTS.map(([name, label]) => choice(name, label)),
      text("impact", "Impact"), text("root_cause", "Root cause"), text("mitigation", "Mitigation")),
    canEdit ? h("div", { class: "button-row" }, h("button", { class: "button button-primary", type: "submit" }, "Save details"))
      : null,
    outcome);
  form.addEventListener("submit", attempt(outcome, async () => {
    const fields = Object.fromEntries(new FormData(form));
    const body = { status: fields.status, impact: fields.impact, root_cause: fields.root_cause, mitigation: fields.mitigation };
    for (const [name] of ASSESSMENTS) if (fields[name] !== "") body[name] = fields[name] === "true";
    await change(body, "Details saved.", outcome)();
  }));
  return form;
}

function reportsPanel(incident, context, redraw) {
  const outcome = outcomeBox();
  const stage = h("select", { name: "stage", "aria-label": "NIS2 stage" }, incident.deadlines.map((deadline) =>
    h("option", { value: deadline.stage, selected: deadline === nextDeadline(incident) }, deadline.title)));
  const generate = (kind, body) => attempt(outcome, async () => {
    await download("POST", `/reports/${kind}`, { incident_id: incident.id, ...body }, `${kind}-${incident.reference}.pdf`);
    await redraw(successNotice("The PDF was downloaded; it is listed under Reports made."));
  });
  return panel("Reports",
    context.paths.has("/reports/nis2") ? h("div", { class: "button-row" }, h("label", {}, "NIS2 stage", stage),
      h("button", { class: "button", type: "button", onclick: (event) => generate("nis2", { stage: stage.value })(event) },
        "NIS2 report (PDF)")) : null,
    context.paths.has("/reports/gdpr") ? h("div", { class: "button-row" },
      h("button", { class: "button", type: "button", onclick: generate("gdpr", {}) }, "GDPR Art.33 report (PDF)")) : null,
    outcome);
}

function reportsMade(incident) {
  return panel("Reports made", incident.reports.length === 0
    ? h("p", { class: "muted" }, "No report made from this incident yet.")
    : h("ul", { class: "plain-list", "aria-label": "Reports made" }, incident.reports.map((report) =>
      h("li", { "data-report-kind": report.kind }, h("strong", {}, report.title),
        h("div", { class: "muted small" }, `${formatTime(report.generated_at)} by ${report.generated_by}`),
        h("div", { class: "muted small mono", title: "SHA-256 of the PDF" }, report.sha256.slice(0, 16))))));
}

// Who held the incident's evidence, when and why; an admin places or releases the hold with a reason.
function legalHoldPanel(incident, context, redraw) {
  const hold = incident.legal_hold;
  const outcome = outcomeBox();
  const state = hold
    ? h("div", { "data-legal-hold": "held" }, h("p", {}, h("strong", {}, "Under legal hold: "),
      "its traces, flows and packets are kept whatever the retention settings say."),
    h("p", { class: "muted small" }, `Placed by ${hold.placed_by} ${formatTime(hold.placed_at)}: ${hold.reason}`))
    : h("p", { class: "muted", "data-legal-hold": "none" }, "Not held: retention applies to its evidence.");
  if (context.user.role !== "admin" || !context.paths.has("/compliance/incidents/{incident_id}/legal-hold")) {
    return panel("Legal hold", state);
  }
  const reason = h("input", { name: "reason", required: true, maxlength: 1000 });
  const form = h("form", { class: "stack", "aria-label": "Legal hold", novalidate: true },
    h("label", {}, hold ? "Why release it" : "Why hold it", reason),
    h("div", { class: "button-row" }, h("button", { class: "button", type: "submit" }, hold ? "Release the hold" : "Place a legal hold")),
    outcome);
  form.addEventListener("submit", attempt(outcome, async () => {
    await api.put(`/compliance/incidents/${encodeURIComponent(incident.id)}/legal-hold`,
      { held: !hold, reason: reason.value });
    await redraw(successNotice(hold ? "The legal hold was released." : "The incident is under legal hold."));
  }));
  return panel("Legal hold", state, form);
}

export async function incidentDetail(view, context, incidentId) {
  const canEdit = canRecord(context);
  const draw = async (notice) => {
    const incident = await api.get(`/compliance/incidents/${encodeURIComponent(incidentId)}`);
    const alerts = context.paths.has("/flows") ? await Promise.all(incident.alert_ids.map((alertId) =>
      api.get(`/alerts/${encodeURIComponent(alertId)}`).catch(() => null))).then((found) => found.filter(Boolean)) : [];
    const outcome = h("div", { class: "view-outcome", "aria-live": "polite" }, notice ?? "");
    const change = (body, done, shownIn = outcome) => attempt(shownIn, async () => {
      await api.put(`/compliance/incidents/${encodeURIComponent(incident.id)}`, body);
      await draw(successNotice(done));
    });
    view.replaceChildren(
      h("p", { class: "breadcrumb" }, h("a", { href: "#/incidents" }, "← All incidents")),
      pageHeader(`${incident.reference} · ${incident.title}`),
      outcome,
      h("div", { class: "columns" },
        h("div", { class: "column-main" },
          panel("Deadlines", deadlinesTable(incident, canEdit, change)),
          panel("Details", h("p", { class: "muted" }, `Aware since ${formatTime(incident.aware_at)}; opened by `
            + `${incident.created_by} ${formatTime(incident.created_at)}.`), incident.description ? h("p", {}, incident.description) : null,
          incidentForm(incident, canEdit, change)),
          context.paths.has("/flows") ? panel("Conversations", conversationsPanelBody(alerts, context)) : null,
          await notesPanel(`/compliance/incidents/${encodeURIComponent(incident.id)}/notes`, canEdit)),
        h("div", { class: "column-side" },
          panel("Alerts", h("ul", { class: "plain-list" }, incident.alert_ids.map((alertId) =>
            h("li", {}, h("a", { class: "mono small", href: `#/alerts/${encodeURIComponent(alertId)}` }, alertId))))),
          legalHoldPanel(incident, context, draw),
          canEdit && context.paths.has("/compliance/incidents/{incident_id}/pcap")
            ? panel("Packets", packetsButton(`/compliance/incidents/${encodeURIComponent(incident.id)}/pcap`,
              `incident-${incident.reference}.pcap`)) : null,
          canEdit ? reportsPanel(incident, context, draw) : null,
          reportsMade(incident))));
  };
  await draw(null);
}

// --- breaches -----------------------------------------------------------------------------------------------

function newBreachForm(context, incidents, reload) {
  const outcome = outcomeBox();
  const notified = h("select", { name: "notified" }, h("option", { value: "false" }, "Not notified"),
    h("option", { value: "true" }, "Notified to the supervisory authority"));
  const form = h("form", { class: "form-grid", "aria-label": "Record a breach", novalidate: true },
    h("label", { class: "span-2" }, "Title", h("input", { name: "title", required: true, maxlength: 200 })),
    h("label", {}, timeLabel("Aware since"), h("input", { name: "aware_at", type: "datetime-local", value: toTimeField(now()) })),
    h("label", {}, "Incident", h("select", { name: "incident_id" }, h("option", { value: "" }, "None"),
      incidents.map((incident) => h("option", { value: incident.id }, `${incident.reference} · ${incident.title}`)))),
    h("label", { class: "span-2" }, "Nature of the breach", h("textarea", { name: "nature", rows: 2 })),
    h("label", { class: "span-2" }, "Categories of personal data (comma-separated)", h("input", { name: "data_categories" })),
    h("label", {}, "People affected (about)", h("input", { name: "data_subjects_approx", inputmode: "numeric" })),
    h("label", {}, "Records affected (about)", h("input", { name: "records_approx", inputmode: "numeric" })),
    h("label", { class: "checkbox" }, h("input", { type: "checkbox", name: "high_risk" }), "High risk to the people"),
    h("label", {}, "Notification", notified),
    h("label", {}, timeLabel("Notified at"), h("input", { name: "notified_at", type: "datetime-local" })),
    h("label", { class: "span-2" }, "Why not notified (required when not notified)",
      h("textarea", { name: "not_notified_reason", rows: 2 })),
    h("label", { class: "span-2" }, "Measures taken", h("textarea", { name: "measures", rows: 2 })),
    h("div", { class: "form-end" }, h("button", { class: "button button-primary", type: "submit" }, "Record breach")),
    h("div", { class: "span-all" }, outcome));
  const count = (text) => (text.trim() === "" ? null : /^\d+$/.test(text.trim()) ? Number(text) : text);
  form.addEventListener("submit", attempt(outcome, async () => {
    const fields = Object.fromEntries(new FormData(form));
    const breach = await api.post("/compliance/breaches", {
      title: fields.title.trim(), aware_at: fields.aware_at ? fromTimeField(fields.aware_at) : now(),
      incident_id: fields.incident_id || null, nature: fields.nature.trim(),
      data_categories: fields.data_categories.split(",").map((item) => item.trim()).filter(Boolean),
      data_subjects_approx: count(fields.data_subjects_approx), records_approx: count(fields.records_approx),
      high_risk: form.elements.high_risk.checked, notified: fields.notified === "true",
      notified_at: fields.notified_at ? fromTimeField(fields.notified_at) : null,
      not_notified_reason: fields.not_notified_reason.trim(), measures: fields.measures.trim(),
    });
    await reload(successNotice(`Recorded ${breach.reference}.`));
  }));
  return form;
}

function breachState(breach) {
  if (breach.notified) {
    const late = breach.late ? (breach.late_without_reason ? " (late, no reason recorded)" : " (late)") : "";
    return `notified ${formatTime(breach.notified_at)}${late}`;
  }
  return `not notified: ${breach.not_notified_reason}`;
}

function breachRow(breach, incidents, canEdit, reload) {
  const outcome = outcomeBox();
  const incident = incidents.find((candidate) => candidate.id === breach.incident_id);
  return h("tr", { "data-breach-id": breach.id },
    h("td", { class: "mono nowrap" }, breach.reference),
    h("td", {}, breach.title, breach.high_risk ? h("div", { class: "small remediation" }, "high risk") : null),
    h("td", { class: "nowrap" }, formatTime(breach.aware_at)),
    h("td", {}, `${formatTime(breach.notification_due_at)}`,
      breach.notified ? null : h("div", { class: "muted small" }, clock(breach.notification_due_at))),
    h("td", {}, breachState(breach)),
    h("td", {}, incident ? h("a", { href: `#/incidents/${encodeURIComponent(incident.id)}` }, incident.reference) : "—"),
    h("td", {}, canEdit && !breach.notified ? [h("button", { class: "button", type: "button",
      onclick: attempt(outcome, async () => {
        await api.put(`/compliance/breaches/${encodeURIComponent(breach.id)}`, { notified: true, notified_at: now() });
        await reload(successNotice(`${breach.reference} recorded as notified.`));
      }) }, "Notified now"), outcome] : null));
}

export async function breachesPage(view, context) {
  const canEdit = canRecord(context);
  const draw = async (notice) => {
    const [found, incidents] = await Promise.all([api.get("/compliance/breaches", { limit: 100 }),
      api.get("/compliance/incidents", { limit: 100 })]);
    view.replaceChildren(
      pageHeader("Breaches", h("span", { class: "muted" }, "GDPR Art.33(5) register: notified or not, and why")),
      notice ?? "",
      found.total === 0 ? panel(null, h("p", { class: "empty" }, "No personal-data breach recorded."))
        : h("div", { class: "table-wrap panel" }, h("table", { class: "table" },
          h("thead", {}, h("tr", {}, ["Reference", "Breach", "Aware since", "Notify by (72 h)", "Notification", "Incident", ""]
            .map((title) => h("th", { scope: "col" }, title)))),
          h("tbody", {}, found.breaches.map((breach) => breachRow(breach, incidents.incidents, canEdit, draw))))),
      canEdit ? panel("Record a breach", newBreachForm(context, incidents.incidents, draw)) : null);
  };
  await draw(null);
}
