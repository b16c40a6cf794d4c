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

export async function boxPage(view, context) {
  const sensors = sensorListPath(context.paths);
  view.append(
    pageHeader("This box"),
    sensors ? optionalPanel(context, "Sensors", sensors, {}, sensorTable) : null,
    h("div", { class: "grid-2" },
      optionalPanel(context, "License", "/license", {}, (data) => renderData(withoutBlanks(data))),
      optionalPanel(context, "Subscription", "/billing/subscription", {}, (data) => renderData(withoutBlanks(data)))),
    context.user.role === "admin" && context.paths.has("/license") ? panel("Install a license key", licenseKeyForm()) : null,
    optionalPanel(context, "What this box sends to the cloud", "/settings/cloud", {}, cloudPayload));
}
