// This box: its sensors, its license, and exactly what it sends to the vendor's cloud.

import { api } from "./api.js";
import { errorNotice, formatTime, h, optionalPanel, pageHeader, panel, renderData, successNotice } from "./elements.js";

// Where a list of sensors may be served: the seed names no list endpoint, so take the first one present.
export const SENSOR_LIST_PATHS = ["/agents", "/agents/list", "/agents/sensors"];

export const sensorListPath = (paths) => SENSOR_LIST_PATHS.find((path) => paths.has(path));

export const hasBoxPages = (paths) =>
  Boolean(sensorListPath(paths)) || ["/license", "/settings/cloud", "/billing/subscription"].some((path) => paths.has(path));

function licenseKeyForm() {
  const outcome = h("div", { class: "form-outcome", "aria-live": "polite" });
  const key = h("textarea", { name: "license_key", rows: 3, required: true, spellcheck: "false", class: "mono",
    placeholder: "nsx_…" });
  const form = h("form", { class: "stack", "aria-label": "Install a license key" },
    h("label", {}, "New or renewed license key", key),
    h("div", { class: "button-row" }, h("button", { class: "button button-primary", type: "submit" }, "Install key")),
    outcome);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api.put("/license", { license_key: key.value.trim() });
      outcome.replaceChildren(successNotice("License installed. Reload the page to see its details."));
    } catch (error) {
      outcome.replaceChildren(errorNotice(error));
    }
  });
  return form;
}

// The heartbeat payload next to its plain-language description, so the admin sees all that leaves.
function cloudPayload(data) {
  const { payload, fields, request, settings, status, ...rest } = data;
  return h("div", { class: "stack" },
    h("p", { class: "muted" }, "Only this leaves the box, and only when cloud sync is on and the vendor's cloud is "
      + "reachable. Flows, alerts, addresses, hostnames, traces and reports never do."),
    renderData({ ...settings, last_result: status?.result, last_detail: status?.detail,
      last_success: status?.last_success_at ? formatTime(status.last_success_at) : null, sent_as: request, ...rest }),
    Array.isArray(fields) && fields.length ? renderData(fields) : null,
    payload === null ? h("p", { class: "muted" }, "No payload: there is no license to report.")
      : h("pre", { class: "code", "aria-label": "The exact payload" }, JSON.stringify(payload ?? data, null, 2)));
}

// Fields a license or subscription leaves empty until they apply (no license yet: no expiry).
const withoutBlanks = (data) => Object.fromEntries(Object.entries(data).filter(([, value]) => value !== null));

function sensorTable(data) {
  const sensors = data.agents ?? data;
  if (Array.isArray(sensors) && sensors.length === 0) {
    return h("p", { class: "muted" }, "No sensor has registered yet: install one on a mirror/SPAN port with the license key.");
  }
  return renderData(Array.isArray(sensors) ? sensors.map((sensor) => ({
    ...sensor, created_at: formatTime(sensor.created_at), last_seen: formatTime(sensor.last_seen),
  })) : sensors);
}

function retryButton(batch) {
  const button = h("button", { class: "button", type: "button" }, "Retry");
  button.addEventListener("click", async () => {
    button.disabled = true;
    try {
      await api.post(`/agents/ingest/failed/${batch.id}/retry`);
      button.replaceWith(h("span", { class: "muted" }, "Queued again"));
    } catch (error) {
      button.disabled = false;
      button.after(errorNotice(error));
    }
  });
  return button;
}

// Batches the engine could not process and went on without; an admin retries one once an upgrade fixed it.
function setAsideBatches(data) {
  if (data.total === 0) return h("p", { class: "muted" }, "None: the engine processed every batch it received.");
  const rows = data.batches.map((batch) => h("tr", { "data-batch-id": batch.id },
    h("td", { class: "mono" }, batch.agent_id),
    h("td", {}, String(batch.seq)),
    h("td", { class: "nowrap" }, formatTime(batch.failed_at)),
    h("td", {}, String(batch.attempts)),
    h("td", { class: "mono small" }, batch.error),
    h("td", {}, retryButton(batch))));
  return h("div", { class: "stack" },
    h("p", { class: "set-aside-count" }, `${data.total} set aside: the engine could not process `
      + `${data.total === 1 ? "this batch" : "these batches"} and went on without them.`),
    h("div", { class: "table-wrap" }, h("table", { class: "table" },
      h("thead", {}, h("tr", {}, ["Sensor", "Seq", "Set aside", "Attempts", "Error", ""]
        .map((title) => h("th", { scope: "col" }, title)))),
      h("tbody", {}, rows))));
}

export async function boxPage(view, context) {
  const sensors = sensorListPath(context.paths);
  const admin = context.user.role === "admin";
  view.append(
    pageHeader("This box"),
    sensors ? optionalPanel(context, "Sensors", sensors, {}, sensorTable) : null,
    admin ? optionalPanel(context, "Batches set aside", "/agents/ingest/failed", { limit: 100 }, setAsideBatches)
      : null,
    h("div", { class: "grid-2" },
      optionalPanel(context, "License", "/license", {}, (data) => renderData(withoutBlanks(data))),
      optionalPanel(context, "Subscription", "/billing/subscription", {}, (data) => renderData(withoutBlanks(data)))),
    admin && context.paths.has("/license") ? panel("Install a license key", licenseKeyForm()) : null,
    optionalPanel(context, "What this box sends to the cloud", "/settings/cloud", {}, cloudPayload));
}
