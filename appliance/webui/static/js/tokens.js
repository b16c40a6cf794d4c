// API tokens: long-lived tokens for scripts and services (a Prometheus, a SIEM collector), shown once,
// stored hashed, with a role, an expiry and their last use; revocable here at any time.

import { api } from "./api.js";
import { confirmingButton, errorNotice, formatTime, h, pageHeader, panel, successNotice } from "./elements.js";

const ROLES = ["viewer", "analyst", "admin"];

function tokenForm(user, reload) {
  const outcome = h("div", { class: "form-outcome", "aria-live": "polite" });
  const roles = ROLES.slice(0, ROLES.indexOf(user.role) + 1);
  const form = h("form", { class: "form-grid", "aria-label": "Make an API token", novalidate: true },
    h("label", {}, "Name", h("input", { name: "name", required: true, placeholder: "prometheus" })),
    h("label", {}, "Kind", h("select", { name: "kind" }, h("option", { value: "personal" }, "Personal (acts for you)"),
      user.role === "admin" ? h("option", { value: "service" }, "Service (a machine's own)") : null)),
    h("label", {}, "Role", h("select", { name: "role" }, roles.map((role) => h("option", { value: role }, role)))),
    h("label", {}, "Expires after (days)", h("input", { name: "expires_in_days", inputmode: "numeric", value: "90" })),
    h("div", { class: "form-end" }, h("button", { class: "button button-primary", type: "submit" }, "Make token")),
    h("div", { class: "span-all" }, outcome));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const fields = Object.fromEntries(new FormData(form));
    const days = fields.expires_in_days.trim();
    const body = { name: fields.name.trim(), kind: fields.kind, role: fields.role,
      expires_in_days: /^\d+$/.test(days) ? Number(days) : days };
    try {
      const made = await api.post("/api-tokens", body);
      form.reset();
      await reload(h("div", { class: "stack" }, successNotice(`Made ${made.details.name}. Copy the token now: it is not shown again.`),
        h("pre", { class: "code", "data-token": "yes" }, made.token),
        h("p", { class: "muted" }, "Send it as Authorization: Bearer <token>.")));
    } catch (error) {
      outcome.replaceChildren(errorNotice(error));
    }
  });
  return form;
}

function tokenRow(token, reload) {
  const status = token.revoked_at ? `revoked ${formatTime(token.revoked_at)} by ${token.revoked_by}`
    : token.active ? `expires ${formatTime(token.expires_at)}` : `expired ${formatTime(token.expires_at)}`;
  return h("tr", { "data-token-id": token.id },
    h("td", {}, h("strong", {}, token.name), h("div", { class: "muted small mono" }, token.id)),
    h("td", {}, token.kind === "service" ? "service" : `personal (${token.username})`),
    h("td", {}, token.role),
    h("td", {}, `${formatTime(token.created_at)} by ${token.created_by}`),
    h("td", {}, token.last_used_at ? `${formatTime(token.last_used_at)} from ${token.last_used_from}` : "never"),
    h("td", {}, status),
    h("td", {}, token.active ? confirmingButton("Revoke", "Confirm revoke", async () => {
      try {
        await api.delete(`/api-tokens/${token.id}`);
        await reload(successNotice(`Revoked ${token.name}: it stopped working.`));
      } catch (error) {
        await reload(errorNotice(error));
      }
    }) : null));
}

export async function tokensPage(view, context) {
  const draw = async (notice) => {
    const found = await api.get("/api-tokens");
    view.replaceChildren(
      pageHeader("API tokens"),
      notice ?? "",
      found.tokens.length === 0 ? panel(null, h("p", { class: "empty" }, "No API token yet.")) :
        h("div", { class: "table-wrap panel" }, h("table", { class: "table" },
          h("thead", {}, h("tr", {}, ["Token", "Kind", "Role", "Made", "Last used", "Status", ""].map((title) => h("th", { scope: "col" }, title)))),
          h("tbody", {}, found.tokens.map((token) => tokenRow(token, draw))))),
      panel("Make a token", tokenForm(context.user, draw)));
  };
  await draw(null);
}
