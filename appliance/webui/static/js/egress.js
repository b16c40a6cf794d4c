// What leaves the box: every destination (the vendor's licensing service, notification channels, SIEM export),
// what each one receives and never receives, and an example of exactly what is sent.

import { api } from "./api.js";
import { h, pageHeader, panel } from "./elements.js";

const KINDS = { cloud: "Vendor cloud", email: "E-mail", syslog: "Syslog", webhook: "Webhook", siem_export: "SIEM export",
  threat_intel_feed: "Threat-intel feed" };

function destinationPanel(item) {
  const badges = h("div", { class: "button-row" },
    h("span", { class: "badge" }, KINDS[item.kind] ?? item.kind),
    h("span", { class: `badge ${item.enabled ? "status-resolved" : "status-reviewed"}` }, item.enabled ? "on" : "off"),
    h("span", { class: `badge ${item.encrypted ? "status-resolved" : "severity-high"}` }, item.encrypted ? "encrypted" : "NOT encrypted"));
  return panel(item.name,
    h("div", { class: "stack", "data-egress-kind": item.kind },
      badges,
      h("p", { class: "mono small" }, item.address),
      item.last_result ? h("p", { class: "small", "data-last-result": "" }, `Last fetch: ${item.last_result}`) : null,
      h("h3", {}, "Receives"), h("ul", {}, item.receives.map((text) => h("li", {}, text))),
      h("h3", {}, "Never receives"), h("ul", {}, item.never.map((text) => h("li", {}, text))),
      h("details", {}, h("summary", {}, "Exactly what is sent (an example)"), h("pre", { class: "code" }, item.example))));
}

export async function egressPage(view) {
  const found = await api.get("/egress");
  view.append(
    pageHeader("What leaves the box"),
    h("p", { class: "muted" }, "Nothing else leaves: the box's firewall opens exactly the destinations switched on below."),
    ...found.destinations.map(destinationPanel));
}
