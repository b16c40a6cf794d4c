// The audit log (admins): who did what, with the hash chain checked by the box.

import { api } from "./api.js";
import { formatTime, h, pageHeader, pager } from "./elements.js";

const PAGE_SIZE = 50;

const detailsText = (details) =>
  Object.entries(details ?? {}).map(([key, value]) => `${key}: ${typeof value === "object" ? JSON.stringify(value) : value}`)
    .join(" · ");

export async function auditPage(view, context) {
  const offset = Math.max(0, Number(context.params.get("offset")) || 0);
  const body = await api.get("/settings/audit-log", { limit: PAGE_SIZE, offset });
  const chain = body.chain_intact
    ? h("div", { class: "notice notice-success", role: "status" }, "Hash chain intact: no entry was changed or removed.")
    : h("div", { class: "notice notice-error", role: "alert" },
      `Hash chain broken at entry ${body.first_broken_id}: the log was altered outside the box's software.`);
  view.append(
    pageHeader("Audit log"),
    chain,
    h("div", { class: "table-wrap panel" }, h("table", { class: "table" },
      h("thead", {}, h("tr", {}, ["Time", "User", "From", "Action", "Target", "Details"]
        .map((title) => h("th", { scope: "col" }, title)))),
      h("tbody", {}, body.entries.map((entry) => h("tr", {},
        h("td", { class: "nowrap" }, formatTime(entry.timestamp)),
        h("td", {}, entry.username),
        h("td", { class: "mono" }, entry.source_ip),
        h("td", { class: "mono" }, entry.action),
        h("td", { class: "mono small" }, entry.target || "—"),
        h("td", { class: "small" }, detailsText(entry.details) || "—")))))),
    pager({ offset, limit: PAGE_SIZE, total: body.total, shown: body.entries.length,
      go: (next) => context.navigate("audit", { offset: next }) }));
}
