// Decision traces: search them, read one, and download its proof trail for an auditor.

import { api, download } from "./api.js";
import { errorNotice, formatTime, h, pageHeader, pager, panel, renderData, successNotice } from "./elements.js";
import { shapChart } from "./shap_chart.js";

const PAGE_SIZE = 30;
const OUTCOME_LABELS = {
  alert_raised: "Alert raised",
  alert_updated: "Alert updated",
  below_threshold: "Below threshold",
};

const outcomeLabel = (outcome) => OUTCOME_LABELS[outcome] ?? String(outcome).replaceAll("_", " ");

function proofTrailButton(trace) {
  const outcome = h("div", { class: "form-outcome", "aria-live": "polite" });
  const button = h("button", {
    class: "button", type: "button", "data-action": "proof-trail",
    onclick: async () => {
      outcome.replaceChildren();
      try {
        await download("GET", `/traces/${encodeURIComponent(trace.id)}/proof-trail`, undefined,
          `proof-trail-${trace.id}.json`);
        outcome.replaceChildren(successNotice("Proof trail downloaded; verify it offline with `appliance traces verify`."));
      } catch (error) {
        outcome.replaceChildren(errorNotice(error));
      }
    },
  }, "Download proof trail (JSON)");
  return h("div", { class: "stack" }, h("div", { class: "button-row" }, button), outcome);
}

// What a trace says, compactly: used on its own page and inside an alert's page.
export function traceSummary(trace, { withEvidence }) {
  const content = trace.content ?? {};
  return h("div", { class: "stack trace-summary" },
    renderData({
      outcome: outcomeLabel(trace.outcome),
      decided_at: formatTime(trace.created_at),
      rule_version: content.rule_version,
      thresholds: content.thresholds,
      model: content.model?.version,
      chain_position: trace.seq,
      hash: trace.hash,
    }),
    withEvidence && content.evidence ? h("div", {}, h("h3", {}, "Evidence"), renderData(content.evidence)) : null,
    h("div", { class: "button-row" },
      h("a", { class: "button", href: `#/traces/${encodeURIComponent(trace.id)}` }, "Open the full trace")),
    proofTrailButton(trace));
}

export async function traceList(view, context) {
  const search = context.params.get("search") ?? "";
  const offset = Math.max(0, Number(context.params.get("offset")) || 0);
  const input = h("input", { name: "search", type: "search", value: search, size: 32,
    placeholder: "IP address, rule, outcome, evidence" });
  const form = h("form", { class: "filters", role: "search" },
    h("label", { class: "field-inline" }, "Search", input),
    h("button", { class: "button", type: "submit" }, "Search"));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    context.navigate("traces", { search: input.value.trim() });
  });
  view.append(pageHeader("Decision traces"), form);
  const body = await api.get("/traces/", { search, limit: PAGE_SIZE, offset });
  if (body.traces.length === 0) {
    view.append(panel(null, h("p", { class: "empty" }, search ? "No trace matches this search." : "No traces yet.")));
    return;
  }
  view.append(
    h("div", { class: "table-wrap panel" }, h("table", { class: "table" },
      h("thead", {}, h("tr", {}, ["Decided", "Outcome", "Rule", "Source", "Destination", "Score", "Alert"]
        .map((title) => h("th", { scope: "col" }, title)))),
      h("tbody", {}, body.traces.map((trace) => h("tr", {},
        h("td", { class: "nowrap" }, h("a", { href: `#/traces/${encodeURIComponent(trace.id)}` }, formatTime(trace.created_at))),
        h("td", {}, outcomeLabel(trace.outcome)),
        h("td", {}, trace.rule_name),
        h("td", { class: "mono" }, trace.source_ip),
        h("td", { class: "mono" }, trace.dest_ip || "—"),
        h("td", { class: "numeric" }, trace.score === null ? "—" : Number(trace.score).toFixed(2)),
        h("td", {}, trace.alert_id ? h("a", { href: `#/alerts/${encodeURIComponent(trace.alert_id)}` }, "Open") : "—")))))),
    pager({ offset, limit: PAGE_SIZE, total: body.total, shown: body.traces.length,
      go: (next) => context.navigate("traces", { search, offset: next }) }));
}

export async function traceDetail(view, context, traceId) {
  const trace = await api.get(`/traces/${encodeURIComponent(traceId)}`);
  const content = trace.content ?? {};
  const { evidence, shap, thresholds, features, evidence_flows: flows } = content;
  view.append(
    h("p", { class: "breadcrumb" }, h("a", { href: "#/traces" }, "← All traces")),
    pageHeader(`${trace.rule_name} · ${outcomeLabel(trace.outcome)}`),
    h("div", { class: "columns" },
      h("div", { class: "column-main" },
        panel("Decision", renderData({
          decided_at: formatTime(trace.created_at), source_ip: trace.source_ip, destination_ip: trace.dest_ip,
          port: content.port, protocol: content.protocol, score: trace.score, incident: trace.incident_key,
          alert: trace.alert_id,
        })),
        shap ? panel("Why it scored this way", shapChart(shap, trace.score)) : null,
        evidence ? panel("Evidence", renderData(evidence)) : null,
        flows?.length ? panel("Evidence flows", renderData(flows)) : null,
        features ? panel("Features the rule measured", renderData(features)) : null),
      h("div", { class: "column-side" },
        panel("Rule settings used", renderData({ rule_version: content.rule_version, ...(thresholds ?? {}) })),
        panel("Tamper evidence", h("div", { class: "mono small" }, renderData({
          chain_position: trace.seq, content_sha256: trace.content_sha256, previous_hash: trace.previous_hash,
          hash: trace.hash,
        })), proofTrailButton(trace)))));
}
