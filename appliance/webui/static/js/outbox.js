// The outbox: every message the notifier queued, whether it went, and the dead-letter list (messages a
// destination refused, or that kept failing for a day) with why, to send again or discard.

import { api } from "./api.js";
import { confirmingButton, errorNotice, formatTime, h, pageHeader, pager, panel, successNotice } from "./elements.js";

const LIMIT = 50;
const STATUSES = [["", "All messages"], ["pending", "Waiting"], ["sent", "Sent"], ["dead", "Dead letters"]];
const BADGES = { pending: "status-reviewed", sent: "status-resolved", dead: "severity-high" };

function entryRow(entry, isAdmin, reload) {
  const actions = isAdmin && entry.status === "dead" ? [
    h("button", { class: "button", type: "button", onclick: async () => {
      try {
        await api.post(`/notifications/outbox/${entry.id}/retry`);
        await reload(successNotice(`Message ${entry.id} is queued again (same message id).`));
      } catch (error) {
        await reload(errorNotice(error));
      }
    } }, "Send again"),
    confirmingButton("Discard", "Confirm discard", async () => {
      await api.delete(`/notifications/outbox/${entry.id}`);
      await reload(successNotice(`Message ${entry.id} discarded.`));
    }),
  ] : null;
  const when = entry.status === "sent" ? `sent ${formatTime(entry.sent_at)}`
    : entry.status === "pending" ? `next try ${formatTime(entry.next_attempt_at)}` : "given up";
  return h("tr", { "data-outbox-id": entry.id, "data-status": entry.status },
    h("td", { class: "nowrap" }, formatTime(entry.created_at)),
    h("td", {}, entry.channel_name),
    h("td", {}, entry.title, h("div", { class: "muted small mono" }, entry.message_id)),
    h("td", {}, h("span", { class: `badge ${BADGES[entry.status]}` }, entry.status), h("div", { class: "muted small" }, when)),
    h("td", { class: "numeric" }, String(entry.attempts)),
    h("td", { class: "numeric" }, String(entry.alerts_total)),
    h("td", { class: "small" }, entry.last_error || h("span", { class: "muted" }, "—")),
    h("td", { class: "button-row" }, actions));
}

export async function outboxPage(view, context) {
  const isAdmin = context.user.role === "admin";
  const status = context.params.get("status") ?? "";
  const alertId = context.params.get("alert_id") ?? "";
  const offset = Number(context.params.get("offset") ?? 0);
  const draw = async (notice) => {
    const found = await api.get("/notifications/outbox", { status, alert_id: alertId, limit: LIMIT, offset });
    const filter = h("select", { name: "status", "aria-label": "Show", onchange: (event) =>
      context.navigate("outbox", { status: event.target.value, alert_id: alertId }) },
    STATUSES.map(([value, text]) => h("option", { value, selected: value === status }, text)));
    view.replaceChildren(
      pageHeader("Outbox", filter),
      alertId ? h("p", { class: "muted" }, `Messages that carried alert ${alertId}.`) : "",
      notice ?? "",
      found.entries.length === 0 ? panel(null, h("p", { class: "empty" }, "Nothing here.")) :
        h("div", { class: "table-wrap panel" }, h("table", { class: "table outbox-table" },
          h("thead", {}, h("tr", {}, ["Queued", "Channel", "Message", "Status", "Attempts", "Alerts", "Last error", ""]
            .map((title) => h("th", { scope: "col" }, title)))),
          h("tbody", {}, found.entries.map((entry) => entryRow(entry, isAdmin, draw))))),
      pager({ offset, limit: LIMIT, total: found.total, shown: found.entries.length,
        go: (next) => context.navigate("outbox", { status, alert_id: alertId, offset: next }) }));
  };
  await draw(null);
}
