// The whitelist: hosts, networks and ports the box should not alert on.

import { api } from "./api.js";
import { confirmingButton, errorNotice, formatTime, h, pageHeader, panel, successNotice } from "./elements.js";

const DIRECTIONS = [["any", "Source or destination"], ["source", "Source only"], ["destination", "Destination only"]];

// Only what the admin filled in, typed as the API wants it; the API itself judges whether it is valid.
function entryFrom(form) {
  const fields = Object.fromEntries(new FormData(form));
  const entry = { cidr: fields.cidr.trim(), direction: fields.direction, comment: fields.comment.trim() };
  // Digits become a number; anything else goes as typed so the API's message names the problem.
  const port = fields.port.trim();
  if (port) entry.port = /^\d+$/.test(port) ? Number(port) : port;
  if (fields.rule_name.trim()) entry.rule_name = fields.rule_name.trim();
  if (fields.expires) entry.expires_at = Math.floor(new Date(fields.expires).getTime() / 1000);
  return entry;
}

function addForm(reload) {
  const outcome = h("div", { class: "form-outcome", "aria-live": "polite" });
  const form = h("form", { class: "form-grid", "aria-label": "Add a whitelist entry", novalidate: true },
    h("label", {}, "Address or network", h("input", { name: "cidr", required: true, placeholder: "10.0.0.5 or 10.0.0.0/24" })),
    h("label", {}, "Port", h("input", { name: "port", inputmode: "numeric", placeholder: "any" })),
    h("label", {}, "Direction", h("select", { name: "direction" }, DIRECTIONS.map(([value, text]) => h("option", { value }, text)))),
    h("label", {}, "Rule", h("input", { name: "rule_name", list: "rule-names", placeholder: "every rule" })),
    h("label", {}, "Expires", h("input", { name: "expires", type: "datetime-local" })),
    h("label", { class: "span-2" }, "Comment", h("input", { name: "comment", maxlength: 500, placeholder: "why this is safe" })),
    h("div", { class: "form-end" }, h("button", { class: "button button-primary", type: "submit" }, "Add entry")),
    h("div", { class: "span-all" }, outcome));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    outcome.replaceChildren();
    try {
      const entry = await api.post("/settings/whitelist", entryFrom(form));
      form.reset();
      await reload(successNotice(`Added ${entry.cidr}; matching open alerts were resolved.`));
    } catch (error) {
      outcome.replaceChildren(errorNotice(error));
    }
  });
  return form;
}

const describe = (value, fallback) => (value === null || value === undefined || value === "" ? fallback : String(value));

function entryRow(entry, canEdit, reload) {
  const remove = async () => {
    try {
      await api.delete(`/settings/whitelist/${encodeURIComponent(entry.id)}`);
      await reload(successNotice(`Removed ${entry.cidr}.`));
    } catch (error) {
      await reload(errorNotice(error));
    }
  };
  return h("tr", { "data-entry-id": entry.id },
    h("td", { class: "mono" }, entry.cidr),
    h("td", {}, describe(entry.port, "any")),
    h("td", {}, entry.direction),
    h("td", {}, describe(entry.rule_name, "every rule")),
    h("td", {}, describe(entry.comment, "—")),
    h("td", { class: "nowrap" }, entry.expires_at ? formatTime(entry.expires_at) : "never"),
    h("td", {}, `${entry.created_by}, ${formatTime(entry.created_at)}`),
    h("td", {}, canEdit ? confirmingButton("Delete", "Confirm delete", remove) : null));
}

export async function whitelistPage(view, context) {
  const canEdit = context.user.role !== "viewer";
  // Redraws in place after a change, with a note of what happened.
  const draw = async (notice) => {
    const body = await api.get("/settings/whitelist");
    view.replaceChildren(
      pageHeader("Whitelist"),
      notice ?? "",
      canEdit ? panel("Add an entry", addForm(draw)) : "",
      body.entries.length === 0
        ? panel(null, h("p", { class: "empty" }, "Nothing is whitelisted: every detection can raise an alert."))
        : h("div", { class: "table-wrap panel" }, h("table", { class: "table whitelist-table" },
          h("thead", {}, h("tr", {}, ["Address", "Port", "Direction", "Rule", "Comment", "Expires", "Added", ""]
            .map((title) => h("th", { scope: "col" }, title)))),
          h("tbody", {}, body.entries.map((entry) => entryRow(entry, canEdit, draw))))));
  };
  await draw(null);
}
