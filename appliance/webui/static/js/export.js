// The SIEM export: syslog destinations that receive every alert (and, if chosen, flows and protocol events) as
// Suricata EVE JSON or ECS, each from its own cursor; and how to pull the same stream with an API token.

import { api } from "./api.js";
import { confirmingButton, errorNotice, formatTime, h, pageHeader, panel, successNotice } from "./elements.js";

const RECORDS = [["alerts", "Alerts"], ["flows", "Flow records"], ["protocol_events", "Protocol events"]];

function destinationForm(reload) {
  const outcome = h("div", { class: "form-outcome", "aria-live": "polite" });
  const form = h("form", { class: "form-grid", "aria-label": "Add an export destination", novalidate: true },
    h("label", {}, "Name", h("input", { name: "name", required: true, placeholder: "central SIEM" })),
    h("label", {}, "Receiver", h("input", { name: "host", required: true, placeholder: "siem.example.org" })),
    h("label", {}, "Port", h("input", { name: "port", inputmode: "numeric", placeholder: "6514" })),
    h("label", {}, "Transport", h("select", { name: "transport" }, h("option", { value: "tls" }, "TLS"),
      h("option", { value: "tcp" }, "TCP (not encrypted)"))),
    h("label", {}, "Schema", h("select", { name: "schema" }, h("option", { value: "eve" }, "Suricata EVE JSON"),
      h("option", { value: "ecs" }, "Elastic Common Schema"))),
    h("label", {}, "Start", h("select", { name: "start" }, h("option", { value: "now" }, "from now on"),
      h("option", { value: "beginning" }, "with everything the box holds"))),
    RECORDS.map(([value, text]) => h("label", { class: "checkbox" },
      h("input", { type: "checkbox", name: "records", value, checked: value === "alerts" }), text)),
    h("label", { class: "checkbox span-2" }, h("input", { type: "checkbox", name: "evidence" }),
      "The alerts' evidence (user names, domains, MAC addresses)"),
    h("label", { class: "span-2" }, "CA certificate (PEM, for a private CA)", h("textarea", { name: "ca_pem", rows: 2, class: "mono" })),
    h("div", { class: "form-end span-all" }, h("button", { class: "button button-primary", type: "submit" }, "Add destination")),
    h("div", { class: "span-all" }, outcome));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const fields = Object.fromEntries(new FormData(form));
    const body = { name: fields.name.trim(), host: fields.host.trim(), transport: fields.transport, schema: fields.schema,
      start: fields.start, evidence: form.elements.evidence.checked,
      records: [...form.querySelectorAll("input[name=records]:checked")].map((box) => box.value) };
    if (fields.port.trim()) body.port = /^\d+$/.test(fields.port.trim()) ? Number(fields.port) : fields.port;
    if (fields.ca_pem.trim()) body.ca_pem = fields.ca_pem.trim();
    try {
      const created = await api.post("/export/destinations", body);
      form.reset();
      await reload(successNotice(`Added ${created.name}: the notifier streams to it from cursor ${created.cursor}.`));
    } catch (error) {
      outcome.replaceChildren(errorNotice(error));
    }
  });
  return form;
}

function destinationRow(item, isAdmin, reload) {
  const test = async () => {
    try {
      await reload(successNotice((await api.post(`/export/destinations/${item.id}/test`)).detail));
    } catch (error) {
      await reload(errorNotice(error));
    }
  };
  return h("tr", { "data-destination-id": item.id },
    h("td", {}, h("strong", {}, item.name), h("div", { class: "muted small" }, item.enabled ? "on" : "off")),
    h("td", { class: "mono small" }, `${item.host}:${item.port} (${item.transport})`),
    h("td", {}, `${item.schema.toUpperCase()}: ${item.records.join(", ")}${item.evidence ? " + evidence" : ""}`),
    h("td", {}, `${item.events_sent} records up to ${item.cursor}`,
      item.last_sent_at ? h("div", { class: "muted small" }, `last sent ${formatTime(item.last_sent_at)}`) : null,
      item.last_error ? h("div", { class: "muted small" }, item.last_error) : null),
    h("td", { class: "button-row" }, isAdmin ? [
      h("button", { class: "button", type: "button", onclick: test }, "Send a test"),
      confirmingButton("Delete", "Confirm delete", async () => {
        await api.delete(`/export/destinations/${item.id}`);
        await reload(successNotice(`Deleted ${item.name}.`));
      }),
    ] : null));
}

export async function exportPage(view, context) {
  const isAdmin = context.user.role === "admin";
  const draw = async (notice) => {
    const found = await api.get("/export/destinations");
    view.replaceChildren(
      pageHeader("SIEM export"),
      notice ?? "",
      found.destinations.length === 0 ? panel(null, h("p", { class: "empty" }, "No syslog destination yet.")) :
        h("div", { class: "table-wrap panel" }, h("table", { class: "table" },
          h("thead", {}, h("tr", {}, ["Destination", "Receiver", "Sends", "Progress", ""].map((title) => h("th", { scope: "col" }, title)))),
          h("tbody", {}, found.destinations.map((item) => destinationRow(item, isAdmin, draw))))),
      isAdmin ? panel("Add a syslog destination", destinationForm(draw)) : "",
      panel("Pull instead", h("p", {}, "A collector can read the same stream with an API token: ",
        h("code", { class: "mono" }, "GET /api/v1/export/events?after=0-0-0&schema=eve"),
        ", then again with the X-Export-Next header's cursor. Each line carries its own cursor (netsenx.cursor).")));
  };
  await draw(null);
}
