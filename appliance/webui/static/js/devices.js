// The device inventory (every host of the site the sensors saw, its role, its alerts) and what the box learned
// about the site while its baseline learned: the routines it will not alert on.

import { api } from "./api.js";
import { errorNotice, formatTime, h, pageHeader, pager, panel } from "./elements.js";

const PAGE_SIZE = 50;
const count = (value) => Number(value).toLocaleString("en");
const devicesLearned = (n) => `${count(n)} device${n === 1 ? "" : "s"}`;

function filterForm(filters, apply) {
  const search = h("input", { name: "search", value: filters.search, placeholder: "e.g. 10.0.4.", size: 18,
    spellcheck: "false" });
  const peers = h("input", { type: "checkbox", name: "include_peers", checked: filters.include_peers === "true" });
  const form = h("form", { class: "filters", "aria-label": "Find devices" },
    h("label", { class: "field-inline" }, "Address starts with", search),
    h("label", { class: "checkbox" }, peers, "Also addresses outside the internal networks"),
    h("button", { class: "button", type: "submit" }, "Find"));
  const current = () => ({ search: search.value.trim(), include_peers: peers.checked ? "true" : "" });
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    apply(current());
  });
  peers.addEventListener("change", () => apply(current()));
  return form;
}

function deviceRow(device) {
  const alerts = `#/alerts?host=${encodeURIComponent(device.ip)}`;
  return h("tr", { "data-device": device.ip },
    h("td", { class: "mono" }, h("a", { href: alerts, title: `Alerts involving ${device.ip}` }, device.ip),
      device.internal ? null : h("span", { class: "muted small" }, " (outside)")),
    h("td", {}, device.roles.join(", ") || h("span", { class: "muted" }, "—")),
    h("td", { class: "nowrap" }, formatTime(device.first_seen)),
    h("td", { class: "nowrap" }, formatTime(device.last_seen)),
    h("td", { class: "numeric" }, `${count(device.flows_started)} / ${count(device.flows_answered)}`),
    h("td", { class: "numeric" }, device.alerts ? h("a", { href: alerts }, `${device.alerts} (${device.open_alerts} open)`)
      : "0"),
    h("td", { class: "numeric" }, String(device.risk_score)));
}

function inventory(body, filters, go) {
  if (body.devices.length === 0) {
    return panel(null, h("p", { class: "empty" }, filters.search
      ? `0 devices matched “${filters.search}”.`
      : "No device seen yet: devices appear as the sensors report traffic."));
  }
  return h("div", { class: "stack" },
    h("div", { class: "table-wrap panel" }, h("table", { class: "table devices-table" },
      h("thead", {}, h("tr", {}, ["Address", "Role", "First seen", "Last seen", "Flows started / answered", "Alerts",
        "Risk"].map((title) => h("th", { scope: "col" }, title)))),
      h("tbody", {}, body.devices.map(deviceRow)))),
    pager({ offset: filters.offset, limit: PAGE_SIZE, total: body.total, shown: body.devices.length, go }));
}

// "RULE|host[|service or destination]" (engine/rules/routines.py)
const ROUTINE_MEANINGS = {
  PORT_SCAN: "probes ports (a scanner)",
  NETWORK_SWEEP: "sweeps the network (inventory, monitoring)",
  LATERAL_MOVEMENT: "logs in to other hosts over",
  C2_BEACON: "calls home on a rhythm to",
};

function routinesTable(routines) {
  if (routines.length === 0) return h("p", { class: "muted" }, "No routine recorded.");
  return h("div", { class: "table-wrap" }, h("table", { class: "table routines-table" },
    h("thead", {}, h("tr", {}, ["Host", "What it does", "Rule"].map((title) => h("th", { scope: "col" }, title)))),
    h("tbody", {}, routines.map((routine) => {
      const [rule, host, subject] = routine.split("|");
      return h("tr", { "data-routine": routine },
        h("td", { class: "mono" }, host),
        h("td", {}, [ROUTINE_MEANINGS[rule] ?? "", subject].filter(Boolean).join(" ")),
        h("td", {}, rule));
    }))));
}

function learningState(baseline) {
  if (baseline.learning_started_at === null) {
    return "Not learning yet: the box starts learning the site with the first traffic a sensor reports.";
  }
  if (!baseline.finished) {
    return `Learning since ${formatTime(baseline.learning_started_at)}, until ${formatTime(baseline.learning_until)} `
      + `(packet time). ${devicesLearned(baseline.devices)} learned so far. Alerts raised meanwhile on these routines are `
      + "recorded, and stay quiet once learning ends.";
  }
  return `Learned from ${formatTime(baseline.learning_started_at)} to ${formatTime(baseline.learning_until)}: `
    + `${devicesLearned(baseline.devices)}. The routines below do not alert; anything else does. Review them: an attacker `
    + "at work while the box learned would be here too.";
}

async function routinesPanel() {
  const section = panel("What the box learned about this site");
  section.dataset.panel = "baseline";
  try {
    const baseline = await api.get("/settings/baseline");
    section.append(h("p", { "data-learning": baseline.finished ? "finished" : "learning" }, learningState(baseline)),
      routinesTable(baseline.routines));
  } catch (error) {
    section.append(errorNotice(error));
  }
  return section;
}

export async function devicesPage(view, context) {
  const params = context.params;
  const filters = { search: params.get("search") ?? "", include_peers: params.get("include_peers") ?? "",
    offset: Math.max(0, Number(params.get("offset")) || 0) };
  const show = (changes) => context.navigate("devices", changes);
  const query = { search: filters.search, limit: PAGE_SIZE, offset: filters.offset };
  if (filters.include_peers) query.include_peers = "true";
  const [body, routines] = await Promise.all([api.get("/devices/", query),
    context.paths.has("/settings/baseline") ? routinesPanel() : null]);
  view.append(pageHeader("Devices"), filterForm(filters, (chosen) => show({ ...chosen, offset: 0 })),
    inventory(body, filters, (offset) => show({ ...filters, offset })), routines);
}
