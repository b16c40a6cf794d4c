// The first page: what is open right now, and the box's analytics (/analytics/*) when they are installed.

import { api } from "./api.js";
import { formatTime, h, optionalPanel, pageHeader, panel, severityBadge } from "./elements.js";

const SEVERITIES = ["CRITICAL", "HIGH", "MEDIUM", "LOW"];

async function openCounts() {
  const totals = await Promise.all(SEVERITIES.map((severity) =>
    api.get("/alerts/", { status: "open", severity, limit: 1 }).then((body) => body.total)));
  return h("div", { class: "tiles" }, SEVERITIES.map((severity, index) =>
    h("a", { class: `tile tile-${severity.toLowerCase()}`, href: `#/alerts?status=open&severity=${severity}` },
      h("span", { class: "tile-number" }, String(totals[index])),
      h("span", { class: "tile-label" }, `open ${severity.toLowerCase()}`))));
}

function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  if (seconds < 172800) return `${(seconds / 3600).toFixed(1)} h`;
  return `${(seconds / 86400).toFixed(1)} days`;
}

const percent = (ratio) => (ratio === null || ratio === undefined ? "—" : `${(ratio * 100).toFixed(1)}%`);

const stat = (label, value) => h("div", { class: "stat" }, h("span", { class: "stat-value" }, value),
  h("span", { class: "stat-label" }, label));

function summary(data) {
  return h("div", { class: "stats" },
    stat("alerts in total", String(data.total_alerts)),
    stat("open", String(data.open_alerts)),
    stat("triaged", String(data.triaged_alerts)),
    stat("false-positive rate", percent(data.false_positive_rate)),
    stat("average time to respond", duration(data.average_response_seconds)));
}

// One labelled bar per row; `href` makes the label a link (to the filtered alert list).
function bars(rows) {
  const largest = Math.max(...rows.map((row) => row.value), 1);
  return h("ul", { class: "number-bars" }, rows.map((row) => {
    const fill = h("span", { class: `number-bar-fill ${row.tone ?? ""}` });
    fill.style.width = `${(row.value / largest) * 100}%`;
    return h("li", {},
      h("span", { class: "number-bar-label" }, row.href ? h("a", { href: row.href }, row.label) : row.label),
      h("span", { class: "number-bar-track" }, fill),
      h("span", { class: "number-bar-value" }, row.text ?? String(row.value)));
  }));
}

const severityDistribution = (data) => bars(data.severities.map((entry) => ({
  label: severityBadge(entry.severity), value: entry.count, tone: `fill-${entry.severity.toLowerCase()}`,
  text: `${entry.count} · ${percent(entry.share)}`,
})));

const topRules = (data) => (data.rules.length === 0 ? h("p", { class: "muted" }, "No alerts yet.")
  : bars(data.rules.map((rule) => ({
    label: rule.rule_name, value: rule.count, href: `#/alerts?rule=${encodeURIComponent(rule.rule_name)}`,
    text: `${rule.count} (${rule.open} open)`,
  }))));

function alertsOverTime(data) {
  const series = data.series;
  const largest = Math.max(...series.map((day) => day.total), 1);
  return h("div", { class: "stack" },
    h("div", { class: "columns-chart", role: "img", "aria-label": `Alerts per day over the last ${data.days} days` },
      series.map((day) => {
        const column = h("span", { class: "column-bar", title: `${day.date}: ${day.total}` });
        column.style.height = `${(day.total / largest) * 100}%`;
        return h("span", { class: "column-slot" }, column);
      })),
    h("div", { class: "chart-axis muted small" }, h("span", {}, series[0]?.date ?? ""),
      h("span", {}, `most in one day: ${Math.max(0, ...series.map((day) => day.total))}`),
      h("span", {}, series.at(-1)?.date ?? "")));
}

// One column per hour, stacked by severity (critical at the bottom); an hour with alerts opens them.
function alertsPerHour(data) {
  const series = data.series;
  const largest = Math.max(...series.map((hour) => hour.total), 1);
  const column = (hour) => {
    const label = `${formatTime(hour.hour_start)}: ${hour.total} alert${hour.total === 1 ? "" : "s"}, `
      + SEVERITIES.filter((severity) => hour.by_severity[severity]).map((severity) =>
        `${hour.by_severity[severity]} ${severity.toLowerCase()}`).join(", ");
    const stack = h("span", { class: "column-stack" }, SEVERITIES.map((severity) => {
      const part = h("span", { class: `fill-${severity.toLowerCase()}` });
      part.style.height = `${(hour.by_severity[severity] / largest) * 100}%`;
      return part;
    }));
    return hour.total === 0 ? h("span", { class: "column-slot", "data-hour": hour.hour_start }, stack)
      : h("a", { class: "column-slot", "data-hour": hour.hour_start, title: label, "aria-label": label,
        href: `#/alerts?since=${hour.hour_start}&until=${hour.hour_start + 3600}` }, stack);
  };
  return h("div", { class: "stack" },
    h("div", { class: "columns-chart stacked-chart", role: "group", "aria-label": `Alerts per hour over the last ${data.hours} hours` },
      series.map(column)),
    h("div", { class: "chart-axis muted small" }, h("span", {}, formatTime(series[0]?.hour_start)),
      h("span", {}, `most in one hour: ${Math.max(0, ...series.map((hour) => hour.total))}`),
      h("span", {}, formatTime(series.at(-1)?.hour_start))),
    h("ul", { class: "chart-legend small" }, SEVERITIES.map((severity) =>
      h("li", {}, h("span", { class: `legend-swatch fill-${severity.toLowerCase()}`, "aria-hidden": "true" }),
        severity.charAt(0) + severity.slice(1).toLowerCase()))));
}

function deviceRisk(data) {
  if (data.devices.length === 0) return h("p", { class: "muted" }, "No device has alerts.");
  return h("div", { class: "table-wrap" }, h("table", { class: "table" },
    h("thead", {}, h("tr", {}, ["Device", "Risk", "Alerts", "Open", "Top rules", "Why", "Last seen"]
      .map((title) => h("th", { scope: "col" }, title)))),
    h("tbody", {}, data.devices.slice(0, 10).map((device) => {
      const fill = h("span", { class: "number-bar-fill" });
      fill.style.width = `${device.risk_score}%`;
      return h("tr", {},
        h("td", { class: "mono" }, h("a", { href: `#/traces?search=${encodeURIComponent(device.device)}` }, device.device)),
        h("td", { class: "risk-cell" }, h("span", { class: "number-bar-track" }, fill), h("span", {}, String(device.risk_score))),
        h("td", { class: "numeric" }, String(device.alerts)),
        h("td", { class: "numeric" }, String(device.open_alerts)),
        h("td", { class: "small" }, device.top_rules.map((rule) => `${rule.rule_name} ×${rule.count}`).join(", ")),
        h("td", { class: "small" }, device.drivers.slice(0, 2).join("; ")),
        h("td", { class: "nowrap" }, formatTime(device.last_seen)));
    }))));
}

export async function overviewPage(view, context) {
  view.append(
    pageHeader("Overview"),
    panel("Open alerts", await openCounts()),
    optionalPanel(context, "Response", "/analytics/summary", {}, summary),
    h("div", { class: "grid-2" },
      optionalPanel(context, "Alerts per day", "/analytics/alerts-over-time", { days: 30 }, alertsOverTime),
      optionalPanel(context, "By severity", "/analytics/severity-distribution", {}, severityDistribution),
      optionalPanel(context, "Top rules", "/analytics/top-rules", { limit: 10 }, topRules)),
    optionalPanel(context, "Alerts per hour, last 48 hours", "/analytics/alerts-per-hour", { hours: 48 }, alertsPerHour),
    optionalPanel(context, "Riskiest devices", "/analytics/device-risk", {}, deviceRisk));
}
