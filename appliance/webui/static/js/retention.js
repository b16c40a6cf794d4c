// Evidence retention on the site settings page: how long each kind is kept, the packet store's budget and the
// share of the data disk the evidence may take (GET/PUT /settings/retention), and the packet store's state
// (GET /packets/status): a full disk is said plainly.

import { api } from "./api.js";
import { errorNotice, h, successNotice } from "./elements.js";

const FIELDS = [
  ["flows_days", "Flow log (days)", 1, 36500],
  ["traces_days", "Decision traces (days)", 1, 36500],
  ["audit_log_days", "Audit log (days)", 1, 36500],
  ["packets_max_mb", "Packets per sensor (MiB)", 1, 16777216],
  ["evidence_disk_percent", "Evidence share of the data disk (%)", 1, 95],
];

const mib = (bytes) => `${(bytes / 1048576).toFixed(1)} MiB`;

function packetStoreState(status) {
  const rings = status.sensors.map((ring) => h("li", { "data-ring": ring.agent_id },
    h("strong", { class: "mono" }, ring.agent_id), ` · ${ring.segments} segments, ${mib(ring.bytes)}, `
      + `${ring.packets_dropped} packets dropped`, ring.message ? h("div", { class: "muted small" }, ring.message) : null));
  return h("div", { "data-packet-store": status.full ? "full" : "ok" },
    status.full ? h("div", { class: "notice notice-error", role: "alert" }, "The data disk is full: the packet store "
      + "sheds its oldest packets so that detection goes on. Free space on the data disk.") : null,
    h("p", { class: "muted small" }, `Data disk: ${mib(status.disk_free_bytes)} free of ${mib(status.disk_bytes)}.`),
    rings.length ? h("ul", { class: "plain-list", "aria-label": "Packet store" }, rings)
      : h("p", { class: "muted small" }, "No sensor keeps packets on this box yet."));
}

export async function retentionPanelBody(canEdit, context, reload) {
  const [settings, status] = await Promise.all([api.get("/settings/retention"),
    context.paths.has("/packets/status") ? api.get("/packets/status") : null]);
  const outcome = h("div", { class: "form-outcome", "aria-live": "polite" });
  const form = h("form", { class: "stack", "aria-label": "Evidence retention", novalidate: true },
    h("fieldset", { class: "form-grid plain-fieldset", disabled: !canEdit },
      h("legend", { class: "visually-hidden" }, "Evidence retention"),
      FIELDS.map(([name, label, min, max]) => h("label", {}, label,
        h("input", { name, type: "number", min, max, value: settings[name] })))),
    h("p", { class: "muted small" }, "The oldest go first. An open incident's evidence, and an incident under "
      + "legal hold, are kept until handled or released."),
    canEdit ? h("div", { class: "button-row" }, h("button", { class: "button button-primary", type: "submit" },
      "Save retention")) : null,
    outcome);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const change = {};
    for (const [name] of FIELDS) {
      const text = form.elements[name].value.trim();
      const value = /^\d+$/.test(text) ? Number(text) : text; // anything else goes as typed: the box names it
      if (value !== settings[name]) change[name] = value;
    }
    if (Object.keys(change).length === 0) {
      outcome.replaceChildren(successNotice("Nothing changed."));
      return;
    }
    try {
      await api.put("/settings/retention", change);
      await reload(successNotice("Retention saved. The engine prunes within the hour."));
    } catch (error) {
      outcome.replaceChildren(errorNotice(error));
    }
  });
  return h("div", { class: "stack" }, form, status ? packetStoreState(status) : null);
}
