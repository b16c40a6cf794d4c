// This box: batches the engine set aside, its subscription, and exactly what it sends to the vendor's cloud.
// (Its sensors and its license have pages of their own.)

import { api } from "./api.js";
import { errorNotice, formatTime, h, optionalPanel, pageHeader, renderData } from "./elements.js";

export const hasBoxPages = (paths) => ["/agents/ingest/failed", "/settings/cloud", "/billing/subscription"]
  .some((path) => paths.has(path));

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
  const admin = context.user.role === "admin";
  view.append(
    pageHeader("This box"),
    admin ? optionalPanel(context, "Batches set aside", "/agents/ingest/failed", { limit: 100 }, setAsideBatches)
      : null,
    optionalPanel(context, "Subscription", "/billing/subscription", {}, (data) => renderData(withoutBlanks(data))),
    optionalPanel(context, "What this box sends to the cloud", "/settings/cloud", {}, cloudPayload));
}
