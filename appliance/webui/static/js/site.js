// Site settings: what the engine knows about this site (internal networks, business hours and time zone, the
// site's own DNS and DHCP servers, who may write to OT devices) and each rule's settings, each shown with its
// default and where it comes from; and how long evidence is kept. Everyone reads them; admins change them; the
// engine follows without restart.

import { api } from "./api.js";
import { errorNotice, h, pageHeader, panel, successNotice, useTimeZone } from "./elements.js";
import { retentionPanelBody } from "./retention.js";

const ADDRESS_LISTS = [
  ["internal_networks", "Internal networks", "Addresses or networks (CIDR) of this site, one per line."],
  ["dns_resolvers", "DNS resolvers", "The site's own resolvers: their queries are forwarded ones, not a host's."],
  ["known_dhcp_servers", "Known DHCP servers", "Any other DHCP server is reported as rogue. Empty: learnt at first."],
  ["allowed_ot_writers", "Allowed OT writers", "Addresses or networks allowed to send Modbus, DNP3 or BACnet writes."],
  ["gateway_ips", "Gateways", "A device claiming a gateway's address is the worst case of ARP spoofing."],
];
const WEEKDAYS = ["Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"];
const SEVERITIES = ["CRITICAL", "HIGH", "MEDIUM", "LOW", "INFO"];

const lines = (text) => text.split(/[\s,]+/).map((item) => item.trim()).filter(Boolean);
const listText = (items) => (items.length ? items.join(", ") : "none");
const sameList = (a, b) => JSON.stringify(a) === JSON.stringify(b);

function defaultNote(current, defaults, text) {
  const isDefault = JSON.stringify(current) === JSON.stringify(defaults);
  return h("span", { class: "muted small" }, isDefault ? `Default: ${text(defaults)}` : `Set on this box · default: ${text(defaults)}`);
}

function timeZones() {
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  return h("datalist", { id: "time-zones" }, ["UTC", ...zones].map((zone) => h("option", { value: zone })));
}

function siteForm(view, canEdit, reload) {
  const { current, defaults } = view;
  const hours = current.business_hours;
  const outcome = h("div", { class: "form-outcome", "aria-live": "polite" });
  const fields = h("fieldset", { class: "form-grid plain-fieldset", disabled: !canEdit },
    h("legend", { class: "visually-hidden" }, "Site settings"),
    ADDRESS_LISTS.map(([name, label, help]) => h("label", { class: "span-2" }, label,
      h("textarea", { name, rows: 3, spellcheck: "false", class: "mono", value: current[name].join("\n") }),
      h("span", { class: "muted small" }, help), defaultNote(current[name], defaults[name], listText))),
    h("label", {}, "Business hours start", h("input", { name: "start_hour", type: "number", min: 0, max: 24,
      value: hours.start_hour })),
    h("label", {}, "Business hours end", h("input", { name: "end_hour", type: "number", min: 0, max: 24,
      value: hours.end_hour }), h("span", { class: "muted small" }, "The hour business ends, not included")),
    h("label", {}, "Time zone", h("input", { name: "timezone", list: "time-zones", value: hours.timezone }),
      defaultNote(hours.timezone, defaults.business_hours.timezone, String)),
    h("fieldset", { class: "span-all weekdays" }, h("legend", {}, "Business days"),
      WEEKDAYS.map((day, index) => h("label", { class: "checkbox" },
        h("input", { type: "checkbox", name: "weekday", value: index, checked: hours.weekdays.includes(index) }), day))),
    timeZones());
  const form = h("form", { class: "stack", "aria-label": "Site settings", novalidate: true }, fields,
    canEdit ? h("div", { class: "button-row" }, h("button", { class: "button button-primary", type: "submit" }, "Save site settings"))
      : h("p", { class: "muted" }, "Your role can read the settings; only an admin can change them."),
    outcome);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const change = {};
    for (const [name] of ADDRESS_LISTS) {
      const wanted = lines(data.get(name));
      if (!sameList(wanted, current[name])) change[name] = wanted;
    }
    const hour = (name) => (/^\d+$/.test(data.get(name).trim()) ? Number(data.get(name)) : data.get(name));
    const wantedHours = { start_hour: hour("start_hour"), end_hour: hour("end_hour"),
      weekdays: data.getAll("weekday").map(Number), timezone: data.get("timezone").trim() };
    if (JSON.stringify(wantedHours) !== JSON.stringify(hours)) change.business_hours = wantedHours;
    if (Object.keys(change).length === 0) {
      outcome.replaceChildren(successNotice("Nothing changed."));
      return;
    }
    try {
      const saved = await api.put("/settings/site", change);
      useTimeZone(saved.current.business_hours.timezone); // every time shown from now on
      await reload(successNotice(`Saved (${Object.keys(change).map((name) => name.replaceAll("_", " ")).join(", ")}). `
        + "The engine applies it to the next traffic it reads, without a restart."));
    } catch (error) {
      outcome.replaceChildren(errorNotice(error));
    }
  });
  return form;
}

const sourceText = (setting) => (setting.source === "rule default" ? "rule default" : `set on this box · default ${setting.default}`);

// A threshold as typed: numbers and true/false become JSON values; anything else goes as text so the box's
// message names the problem.
function typed(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function thresholdField(threshold) {
  const input = typeof threshold.default === "boolean"
    ? h("input", { type: "checkbox", name: threshold.name, checked: threshold.value })
    : h("input", { name: threshold.name, inputmode: "decimal", value: String(threshold.value) });
  return h("label", { class: typeof threshold.default === "boolean" ? "checkbox" : null, "data-threshold": threshold.name },
    threshold.name.replaceAll("_", " "), input, h("span", { class: "muted small" }, sourceText(threshold)));
}

function ruleForm(rule, canEdit, reload) {
  const outcome = h("div", { class: "form-outcome", "aria-live": "polite" });
  const severity = h("select", { name: "severity" },
    h("option", { value: "", selected: rule.severity.source === "rule default" }, `Rule default (${rule.severity.default})`),
    SEVERITIES.map((value) => h("option", { value, selected: rule.severity.source !== "rule default" && rule.severity.value === value }, value)));
  const form = h("form", { class: "stack", "aria-label": `Settings of ${rule.rule_name}`, novalidate: true },
    h("fieldset", { class: "form-grid plain-fieldset", disabled: !canEdit },
      h("legend", { class: "visually-hidden" }, `Settings of ${rule.rule_name}`),
      h("label", { class: "checkbox" }, h("input", { type: "checkbox", name: "enabled", checked: rule.enabled.value }),
        "Enabled"),
      h("label", {}, "Severity", severity),
      rule.thresholds.map(thresholdField)),
    canEdit ? h("div", { class: "button-row" },
      h("button", { class: "button button-primary", type: "submit" }, "Save rule"),
      h("button", { class: "button", type: "button", onclick: async () => {
        try {
          await api.delete(`/settings/rules/${rule.rule_name}`);
          await reload(successNotice(`${rule.rule_name} is back to its defaults.`));
        } catch (error) {
          outcome.replaceChildren(errorNotice(error));
        }
      } }, "Back to defaults")) : null,
    h("p", { class: "muted small" }, `Defaults from ${rule.defined_in}, version ${rule.version}.`),
    outcome);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const thresholds = Object.fromEntries(rule.thresholds.map(({ name, default: byDefault }) => {
      const input = form.elements[name];
      return [name, typeof byDefault === "boolean" ? input.checked : typed(input.value.trim())];
    }));
    const body = { enabled: form.elements.enabled.checked, severity: severity.value || null, thresholds };
    try {
      await api.put(`/settings/rules/${rule.rule_name}`, body);
      await reload(successNotice(`Saved ${rule.rule_name}. The engine applies it without a restart.`), rule.rule_name);
    } catch (error) {
      outcome.replaceChildren(errorNotice(error));
    }
  });
  return form;
}

function ruleSummary(rule) {
  const changed = [rule.enabled, rule.severity, ...rule.thresholds].filter((item) => item.source !== "rule default").length;
  return h("summary", {},
    h("strong", { class: "mono" }, rule.rule_name), " ",
    h("span", { class: "muted" }, rule.description), " ",
    h("span", { class: "badge" }, rule.enabled.value ? rule.severity.value : "disabled"),
    changed ? h("span", { class: "badge status-reviewed" }, `${changed} set on this box`) : null);
}

export async function sitePage(view, context) {
  const canEdit = context.user.role === "admin";
  const draw = async (notice, openRule) => {
    const [site, rules, retention] = await Promise.all([api.get("/settings/site"), api.get("/settings/rules"),
      context.paths.has("/settings/retention") ? retentionPanelBody(canEdit, context, draw) : null]);
    view.replaceChildren(
      pageHeader("Site settings"),
      notice ?? "",
      panel("The site", siteForm(site, canEdit, draw)),
      retention ? panel("Evidence retention", retention) : null,
      panel("Rules", h("div", { class: "rules-list" }, rules.rules.map((rule) =>
        h("details", { class: "rule-settings", "data-rule": rule.rule_name, open: rule.rule_name === openRule },
          ruleSummary(rule), ruleForm(rule, canEdit, draw))))));
  };
  await draw(null, null);
}
