// Alerts: the newest-first list with filters, and one alert with its explanation, trace and actions.

import { api, download } from "./api.js";
import {
  errorNotice, formatTime, fromTimeField, h, pageHeader, pager, panel, renderData, severityBadge,
  STATUS_LABELS, statusBadge, successNotice, timeZoneName, toTimeField,
} from "./elements.js";
import { conversationsPanelBody, packetsButton } from "./conversations.js";
import { notesPanel } from "./notes.js";
import { shapChart } from "./shap_chart.js";
import { traceSummary } from "./traces.js";

const SEVERITIES = ["CRITICAL", "HIGH", "MEDIUM", "LOW"];
const PAGE_SIZES = [30, 50, 100];
const ACTIONS = [
  ["reviewed", "Reviewed"],
  ["resolved", "Resolved"],
  ["false_positive", "False positive"],
];

const select = (name, label, options, current) =>
  h("label", { class: "field-inline" }, label,
    h("select", { name }, options.map(([value, text]) => h("option", { value, selected: value === current }, text))));

const timeField = (name, label, epochSeconds) =>
  h("label", { class: "field-inline" }, `${label} (${timeZoneName()})`,
    h("input", { name, type: "datetime-local", value: epochSeconds === "" ? "" : toTimeField(Number(epochSeconds)) }));

function filterForm(filters, apply) {
  const form = h("form", { class: "filters", "aria-label": "Filter alerts" },
    select("severity", "Severity", [["", "All"], ...SEVERITIES.map((s) => [s, s])], filters.severity),
    select("status", "Status", [["", "All"], ...Object.entries(STATUS_LABELS)], filters.status),
    h("label", { class: "field-inline" }, "Rule",
      h("input", { name: "rule", list: "rule-names", value: filters.rule, placeholder: "any rule", size: 22 })),
    h("label", { class: "field-inline" }, "Host (source or destination)",
      h("input", { name: "host", value: filters.host, placeholder: "any IP", size: 16, spellcheck: "false" })),
    timeField("since", "From", filters.since),
    timeField("until", "Until", filters.until),
    select("limit", "Per page", PAGE_SIZES.map((n) => [String(n), String(n)]), String(filters.limit)),
    h("button", { class: "button", type: "submit" }, "Apply"),
    h("button", { class: "button button-quiet", type: "button", onclick: () => apply({}) }, "Clear"));
  const current = () => {
    const chosen = Object.fromEntries(new FormData(form));
    for (const name of ["since", "until"]) chosen[name] = chosen[name] ? fromTimeField(chosen[name]) : "";
    chosen.host = chosen.host.trim();
    return chosen;
  };
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    apply(current());
  });
  for (const dropdown of form.querySelectorAll("select")) dropdown.addEventListener("change", () => apply(current()));
  return form;
}

function alertRow(alert) {
  const link = `#/alerts/${encodeURIComponent(alert.id)}`;
  const row = h("tr", { class: `alert-row row-${alert.severity.toLowerCase()}`, "data-alert-id": alert.id },
    h("td", { class: "nowrap" }, formatTime(alert.timestamp)),
    h("td", {}, severityBadge(alert.severity)),
    h("td", {}, h("a", { href: link, class: "rule-link" }, alert.rule_name)),
    h("td", { class: "mono" }, alert.source_ip),
    h("td", { class: "mono" }, alert.dest_ip ?? "—"),
    h("td", { class: "mono" }, [alert.port, alert.protocol].filter((part) => part !== null && part !== undefined).join("/") || "—"),
    h("td", { class: "numeric" }, Number(alert.score).toFixed(2)),
    h("td", {}, statusBadge(alert.status)));
  row.addEventListener("click", (event) => {
    if (!event.target.closest("a")) window.location.hash = link;
  });
  return row;
}

export async function alertList(view, context) {
  const params = context.params;
  const filters = {
    severity: params.get("severity") ?? "",
    status: params.get("status") ?? "",
    rule: params.get("rule") ?? "",
    host: params.get("host") ?? "",
    since: params.get("since") ?? "",
    until: params.get("until") ?? "",
    limit: PAGE_SIZES.includes(Number(params.get("limit"))) ? Number(params.get("limit")) : PAGE_SIZES[0],
    offset: Math.max(0, Number(params.get("offset")) || 0),
  };
  const show = (changes) => context.navigate("alerts", { ...changes });
  view.append(pageHeader("Alerts"), filterForm(filters, (chosen) => show({ ...chosen, offset: 0 })));
  const body = await api.get("/alerts/", Object.fromEntries(Object.entries(filters).filter(([, value]) => value !== "")));
  if (body.alerts.length === 0) {
    view.append(panel(null, h("p", { class: "empty" }, "0 alerts matched these filters.")));
    return;
  }
  view.append(
    h("div", { class: "table-wrap panel" }, h("table", { class: "table alerts-table" },
      h("thead", {}, h("tr", {}, ["Time", "Severity", "Rule", "Source", "Destination", "Port", "Score", "Status"]
        .map((title) => h("th", { scope: "col" }, title)))),
      h("tbody", {}, body.alerts.map(alertRow)))),
    pager({
      offset: filters.offset, limit: filters.limit, total: body.total, shown: body.alerts.length,
      go: (offset) => show({ ...filters, offset }),
    }));
}

// The trace that raised this alert: its own id when the API gives one, else a search by its source.
async function traceOf(alert) {
  if (alert.trace_id) return api.get(`/traces/${encodeURIComponent(alert.trace_id)}`);
  const found = await api.get("/traces/", { search: alert.source_ip, limit: 100 });
  const summary = found.traces.find((trace) => trace.alert_id === alert.id);
  return summary ? api.get(`/traces/${encodeURIComponent(summary.id)}`) : null;
}

function statusForm(alert, refresh) {
  const notes = h("textarea", { name: "notes", rows: 3, maxlength: 10000, placeholder: "What you found (optional)" });
  const outcome = h("div", { class: "form-outcome", "aria-live": "polite" });
  const act = async (status) => {
    outcome.replaceChildren();
    try {
      const note = notes.value.trim();
      await api.put(`/alerts/${encodeURIComponent(alert.id)}`, note ? { status, notes: note } : { status });
      await refresh(successNotice(`Marked ${STATUS_LABELS[status].toLowerCase()}.`));
    } catch (error) {
      outcome.replaceChildren(errorNotice(error));
    }
  };
  return h("div", { class: "stack" },
    h("label", {}, "Note with this change (kept in the notes history)", notes),
    h("span", { class: "field-caption", id: "mark-as" }, "Mark as"),
    h("div", { class: "triage-buttons", role: "group", "aria-labelledby": "mark-as" }, ACTIONS.map(([status, label]) =>
      h("button", {
        class: `button ${status === "false_positive" ? "button-warning" : "button-primary"}`, type: "button",
        "data-action": status, disabled: alert.status === status, onclick: () => act(status),
      }, label))),
    outcome);
}

function silenceForm(alert, refresh) {
  const onlyThisRule = h("input", { type: "checkbox", name: "only-rule", checked: true });
  const outcome = h("div", { class: "form-outcome", "aria-live": "polite" });
  const silence = async () => {
    outcome.replaceChildren();
    try {
      const entry = await api.post("/settings/whitelist", {
        cidr: alert.source_ip,
        direction: "source",
        rule_name: onlyThisRule.checked ? alert.rule_name : null,
        comment: `silenced from alert ${alert.id}`,
      });
      await refresh(successNotice(`${entry.cidr} is silenced${entry.rule_name ? ` for ${entry.rule_name}` : ""}; `
        + "its open alerts were resolved. Undo it on the Whitelist page."));
    } catch (error) {
      outcome.replaceChildren(errorNotice(error));
    }
  };
  return h("div", { class: "stack" },
    h("p", { class: "muted" }, "Stop alerting on a host that is known to be noisy (a scanner, a backup server)."),
    h("label", { class: "checkbox" }, onlyThisRule, `Only for ${alert.rule_name} alerts`),
    h("div", { class: "button-row" },
      h("button", { class: "button", type: "button", "data-action": "silence", onclick: silence },
        `Silence ${alert.source_ip}`)),
    outcome);
}

function reportButtons(alert, context) {
  const outcome = h("div", { class: "form-outcome", "aria-live": "polite" });
  const kinds = [["nis2", "NIS2 Art.23 report"], ["gdpr", "GDPR Art.33 report"]]
    .filter(([kind]) => context.paths.has(`/reports/${kind}`));
  if (kinds.length === 0) return null;
  const generate = async (kind, button) => {
    outcome.replaceChildren();
    button.disabled = true;
    try {
      await download("POST", `/reports/${kind}`, { alert_id: alert.id }, `${kind}-report-${alert.id}.pdf`);
      outcome.replaceChildren(successNotice("The PDF was downloaded."));
    } catch (error) {
      outcome.replaceChildren(errorNotice(error));
    } finally {
      button.disabled = false;
    }
  };
  return panel("Reports", h("div", { class: "button-row" }, kinds.map(([kind, label]) =>
    h("button", { class: "button", type: "button", onclick: (event) => generate(kind, event.currentTarget) },
      `${label} (PDF)`))),
  context.paths.has("/compliance/incidents")
    ? h("p", {}, h("a", { href: `#/incidents?alert=${encodeURIComponent(alert.id)}` }, "Open an incident with this alert"))
    : null,
  outcome);
}

export async function alertDetail(view, context, alertId) {
  // Redraws in place after an action, with a note of what happened.
  const draw = async (notice) => {
    const alert = await api.get(`/alerts/${encodeURIComponent(alertId)}`);
    const canAct = context.user.role !== "viewer";
    // An alert the engine raised carries its incident evidence; one without it (an older row) shows the trace's.
    const hasEvidence = alert.evidence && Object.keys(alert.evidence).length > 0;
    const trace = h("div", {}, h("p", { class: "muted" }, "Looking for the decision trace…"));
    view.replaceChildren(
      h("p", { class: "breadcrumb" }, h("a", { href: "#/alerts" }, "← All alerts")),
      pageHeader(alert.rule_name, severityBadge(alert.severity),
        h("span", { id: "alert-status" }, statusBadge(alert.status))),
      notice ?? "",
      h("div", { class: "columns" },
        h("div", { class: "column-main" },
          panel("What happened", renderData({
            source_ip: alert.source_ip, destination_ip: alert.dest_ip, port: alert.port, protocol: alert.protocol,
            score: alert.score, first_seen: formatTime(alert.timestamp), alert_id: alert.id,
          })),
          panel("Why it scored this way", shapChart(alert.shap_json, alert.score)),
          hasEvidence ? panel("Evidence", renderData(alert.evidence)) : null,
          context.paths.has("/flows") ? panel("Conversations", conversationsPanelBody([alert], context)) : null,
          panel("Decision trace", trace),
          await notesPanel(`/alerts/${encodeURIComponent(alert.id)}/notes`, canAct)),
        h("div", { class: "column-side" },
          canAct ? panel("Triage", statusForm(alert, draw))
            : panel("Triage", h("p", { class: "muted" }, "Your role can read alerts but not change them.")),
          canAct ? panel("Silence this host", silenceForm(alert, draw)) : null,
          canAct && context.paths.has("/alerts/{alert_id}/pcap")
            ? panel("Packets", packetsButton(`/alerts/${encodeURIComponent(alert.id)}/pcap`, `alert-${alert.id}.pcap`))
            : null,
          canAct ? reportButtons(alert, context) : null)));
    try {
      const found = await traceOf(alert);
      trace.replaceChildren(found ? traceSummary(found, { withEvidence: !hasEvidence })
        : h("p", { class: "muted" }, "No decision trace is stored for this alert."));
    } catch (error) {
      trace.replaceChildren(errorNotice(error));
    }
  };
  await draw(null);
}
