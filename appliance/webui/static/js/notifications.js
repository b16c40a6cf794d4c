// Notification channels: where alerts go (e-mail, syslog, webhooks incl. Slack and Teams), which alerts, when,
// with what in them, and a button that sends a test now. Secrets are write-only: the box never shows them again.

import { api } from "./api.js";
import { confirmingButton, errorNotice, formatTime, h, pageHeader, panel, successNotice } from "./elements.js";

const SEVERITIES = ["LOW", "MEDIUM", "HIGH", "CRITICAL"];
const list = (text) => text.split(",").map((item) => item.trim()).filter(Boolean);
const number = (text, fallback) => (text.trim() === "" ? fallback : (/^\d+$/.test(text.trim()) ? Number(text) : text));
const option = (value, text, selected) => h("option", { value, selected: value === selected }, text ?? value);

// The fields of each kind of channel: [name, label, attributes]; the API judges the values.
const KIND_FIELDS = {
  email: [
    ["host", "Mail server", { placeholder: "smtp.example.org", required: true }],
    ["port", "Port", { placeholder: "587", inputmode: "numeric" }],
    ["security", "Security", { choices: [["starttls", "STARTTLS (587)"], ["tls", "Implicit TLS (465)"], ["none", "None: local relay, not encrypted"]] }],
    ["username", "Login", {}],
    ["password", "Password", { type: "password", autocomplete: "new-password", placeholder: "kept if left empty" }],
    ["from_address", "From address", { placeholder: "netsenx@example.org", required: true }],
    ["from_name", "From name", { placeholder: "NetSenX" }],
    ["to", "To (comma-separated)", { placeholder: "soc@example.org", required: true, list: true }],
  ],
  syslog: [
    ["host", "Receiver", { placeholder: "siem.example.org", required: true }],
    ["port", "Port", { placeholder: "6514", inputmode: "numeric" }],
    ["transport", "Transport", { choices: [["tls", "TLS"], ["tcp", "TCP (not encrypted)"], ["udp", "UDP (no confirmation)"]] }],
    ["facility", "Facility (0-23)", { placeholder: "16", inputmode: "numeric" }],
  ],
  webhook: [
    ["url", "URL", { placeholder: "https://hooks.example.org/netsenx", required: true, class: "span-2" }],
    ["format", "Format", { choices: [["json", "JSON, signed (Standard Webhooks)"], ["slack", "Slack"], ["teams", "Microsoft Teams"]] }],
    ["secret", "Signing secret", { type: "password", autocomplete: "off", placeholder: "made up by the box if empty" }],
  ],
};

function field([name, label, attributes]) {
  const { choices, list: isList, class: className, ...rest } = attributes;
  const control = choices
    ? h("select", { name }, choices.map(([value, text]) => option(value, text)))
    : h("input", { name, ...rest, "data-list": isList ? "yes" : null });
  return h("label", { class: className }, label, control);
}

function settingsFrom(form, kind) {
  const settings = { kind };
  for (const [name, , attributes] of KIND_FIELDS[kind]) {
    const value = form.elements[name].value;
    if (value.trim() === "") continue;
    if (attributes.list) settings[name] = list(value);
    else if (["port", "facility"].includes(name)) settings[name] = number(value);
    else settings[name] = value.trim();
  }
  const caPem = form.elements.ca_pem.value.trim();
  if (caPem) settings.ca_pem = caPem;
  return settings;
}

function routingFrom(form) {
  const fields = Object.fromEntries(new FormData(form));
  const routing = { min_severity: fields.min_severity, rules: list(fields.rules), sensors: list(fields.sensors),
    digest: { window_seconds: number(fields.window_seconds, 300), max_immediate: number(fields.max_immediate, 5) } };
  if (fields.quiet_start && fields.quiet_end) {
    routing.quiet_hours = { start: fields.quiet_start, end: fields.quiet_end, timezone: fields.timezone.trim() || "UTC",
      let_through: fields.let_through || null };
  }
  return routing;
}

function channelForm(reload) {
  const outcome = h("div", { class: "form-outcome", "aria-live": "polite" });
  const kind = h("select", { name: "kind" }, Object.keys(KIND_FIELDS).map((value) => option(value)));
  const kindFields = Object.fromEntries(Object.entries(KIND_FIELDS).map(([name, fields]) =>
    [name, h("div", { class: "form-grid span-all", "data-kind": name, hidden: name !== "email" }, fields.map(field))]));
  kind.addEventListener("change", () => Object.entries(kindFields).forEach(([name, part]) => { part.hidden = name !== kind.value; }));
  const form = h("form", { class: "form-grid", "aria-label": "Add a notification channel", novalidate: true },
    h("label", {}, "Name", h("input", { name: "name", required: true, placeholder: "SOC mailbox" })),
    h("label", {}, "Kind", kind),
    Object.values(kindFields),
    h("label", { class: "span-2" }, "CA certificate (PEM, for a private CA)", h("textarea", { name: "ca_pem", rows: 2, class: "mono" })),
    h("h3", { class: "span-all" }, "Which alerts, and when"),
    h("label", {}, "Minimum severity", h("select", { name: "min_severity" }, SEVERITIES.map((value) => option(value, value, "HIGH")))),
    h("label", {}, "Only these rules", h("input", { name: "rules", placeholder: "all rules", list: "rule-names" })),
    h("label", {}, "Only these sensors", h("input", { name: "sensors", placeholder: "all sensors" })),
    h("label", {}, "Quiet hours from", h("input", { name: "quiet_start", type: "time" })),
    h("label", {}, "until", h("input", { name: "quiet_end", type: "time" })),
    h("label", {}, "Time zone", h("input", { name: "timezone", placeholder: "Europe/Madrid" })),
    h("label", {}, "During quiet hours still send", h("select", { name: "let_through" },
      option("CRITICAL", "CRITICAL alerts", "CRITICAL"), option("HIGH", "HIGH and CRITICAL"), option("", "nothing"))),
    h("label", {}, "Digest window (s)", h("input", { name: "window_seconds", inputmode: "numeric", placeholder: "300" })),
    h("label", {}, "Alerts sent one by one per window", h("input", { name: "max_immediate", inputmode: "numeric", placeholder: "5" })),
    h("h3", { class: "span-all" }, "What the messages carry"),
    h("label", { class: "checkbox" }, h("input", { type: "checkbox", name: "addresses", checked: true }), "IP addresses and ports"),
    h("label", { class: "checkbox" }, h("input", { type: "checkbox", name: "link", checked: true }), "A link to the alert"),
    h("label", { class: "checkbox span-2" }, h("input", { type: "checkbox", name: "evidence" }),
      "The rule's evidence (may hold user names, domains, MAC addresses)"),
    h("div", { class: "form-end span-all" }, h("button", { class: "button button-primary", type: "submit" }, "Add channel")),
    h("div", { class: "span-all" }, outcome));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    outcome.replaceChildren();
    const body = { name: form.elements.name.value.trim(), settings: settingsFrom(form, kind.value), routing: routingFrom(form),
      content: { addresses: form.elements.addresses.checked, evidence: form.elements.evidence.checked, link: form.elements.link.checked } };
    try {
      const channel = await api.post("/notifications/channels", body);
      form.reset();
      const secret = channel.generated_secret
        ? h("div", { class: "stack" }, h("p", {}, "The webhook's signing secret: give it to the receiver now, the box will not show it again."),
          h("pre", { class: "code", "data-secret": "yes" }, channel.generated_secret)) : null;
      await reload(h("div", { class: "stack" }, successNotice(`Added ${channel.name}.`), secret));
    } catch (error) {
      outcome.replaceChildren(errorNotice(error));
    }
  });
  return form;
}

function destination(settings) {
  if (settings.kind === "email") return `${settings.host}:${settings.port} (${settings.security}) to ${settings.to.join(", ")}`;
  if (settings.kind === "syslog") return `${settings.host}:${settings.port} (${settings.transport})`;
  return `${settings.url} (${settings.format})`;
}

function stateOf(state) {
  const parts = [`${state.pending} waiting`, `${state.dead} dead`, `${state.held} held for a digest`];
  if (state.failures) parts.push(`${state.failures} failures, next try ${formatTime(state.retry_at)}`);
  return h("div", {}, h("div", {}, parts.join(" · ")),
    state.last_error ? h("div", { class: "muted small" }, state.last_error) : null,
    state.last_success_at ? h("div", { class: "muted small" }, `last delivered ${formatTime(state.last_success_at)}`) : null);
}

function channelRow(channel, isAdmin, reload) {
  const act = (label, work) => h("button", { class: "button", type: "button", onclick: async () => {
    try {
      await reload(successNotice(await work()));
    } catch (error) {
      await reload(errorNotice(error));
    }
  } }, label);
  const { name, enabled, settings, routing, content } = channel;
  const toggle = () => api.put(`/notifications/channels/${channel.id}`, { name, enabled: !enabled, settings, routing, content })
    .then(() => `${name} is ${enabled ? "off" : "on"}.`);
  return h("tr", { "data-channel-id": channel.id },
    h("td", {}, h("strong", {}, name), h("div", { class: "muted small" }, enabled ? channel.kind : `${channel.kind}, switched off`)),
    h("td", { class: "mono small" }, destination(settings)),
    h("td", {}, `${routing.min_severity}+`, routing.quiet_hours ? h("div", { class: "muted small" },
      `quiet ${routing.quiet_hours.start}–${routing.quiet_hours.end} ${routing.quiet_hours.timezone}`) : null),
    h("td", {}, stateOf(channel.state)),
    h("td", { class: "button-row" }, isAdmin ? [
      act("Send a test", async () => (await api.post(`/notifications/channels/${channel.id}/test`)).detail),
      act(enabled ? "Switch off" : "Switch on", toggle),
      settings.kind === "webhook" ? act("New secret", async () =>
        `New signing secret (shown once): ${(await api.post(`/notifications/channels/${channel.id}/rotate-secret`)).generated_secret}`) : null,
      confirmingButton("Delete", "Confirm delete", async () => {
        await api.delete(`/notifications/channels/${channel.id}`);
        await reload(successNotice(`Deleted ${name}.`));
      }),
    ] : null));
}

function settingsForm(current, reload) {
  const form = h("form", { class: "form-grid", "aria-label": "This box in messages" },
    h("label", {}, "Box name", h("input", { name: "box_name", value: current.box_name })),
    h("label", { class: "span-2" }, "Box address (for links)", h("input", { name: "box_url", value: current.box_url ?? "",
      placeholder: "https://netsenx.example.lan" })),
    h("div", { class: "form-end" }, h("button", { class: "button", type: "submit" }, "Save")));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = { box_name: form.elements.box_name.value.trim(), box_url: form.elements.box_url.value.trim() || null };
    try {
      await api.put("/notifications/settings", body);
      await reload(successNotice("Saved."));
    } catch (error) {
      await reload(errorNotice(error));
    }
  });
  return form;
}

export async function notificationsPage(view, context) {
  const isAdmin = context.user.role === "admin";
  const draw = async (notice) => {
    const [channels, settings] = await Promise.all([api.get("/notifications/channels"), api.get("/notifications/settings")]);
    view.replaceChildren(
      pageHeader("Notifications"),
      notice ?? "",
      channels.channels.length === 0
        ? panel(null, h("p", { class: "empty" }, "No channel yet: alerts wait in the box until someone opens it."))
        : h("div", { class: "table-wrap panel" }, h("table", { class: "table channel-table" },
          h("thead", {}, h("tr", {}, ["Channel", "Destination", "Alerts", "Delivery", ""].map((title) => h("th", { scope: "col" }, title)))),
          h("tbody", {}, channels.channels.map((channel) => channelRow(channel, isAdmin, draw))))),
      isAdmin ? panel("Add a channel", channelForm(draw)) : "",
      isAdmin ? panel("This box in messages", settingsForm(settings, draw)) : "");
  };
  await draw(null);
}
