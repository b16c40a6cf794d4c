// The license: its state in words, its dates as dates, the sensor seats used; an admin installs a new key.

import { api } from "./api.js";
import { errorNotice, formatTime, h, pageHeader, panel, successNotice } from "./elements.js";

const STATES = {
  valid: ["ok", "Valid"],
  expiring_soon: ["pending", "Expiring soon"],
  grace: ["overdue", "Expired: grace period"],
  locked: ["overdue", "Locked"],
};
const PLANS = { starter: "Starter", professional: "Professional", enterprise: "Enterprise" };

const fact = (label, value, key) => [h("dt", {}, label), h("dd", { "data-fact": key }, value ?? "—")];
const days = (n) => `${n} day${n === 1 ? "" : "s"}`;

function seats(view) {
  const max = view.license.max_sensors;
  const used = view.sensors_registered;
  return h("span", { class: used >= max ? "drops-high" : "" }, `${used} of ${max} sensors registered`
    + (used >= max ? ": a new sensor is refused until one is revoked or the license grows" : ""));
}

function licenseFacts(view) {
  if (!view.installed || !view.license) return h("p", { class: "empty" }, view.hint);
  const [tone, label] = STATES[view.status] ?? ["pending", view.status];
  const license = view.license;
  return h("div", { class: "stack" },
    h("p", {}, h("span", { class: `badge deadline-${tone === "ok" ? "submitted" : tone}`, "data-license-state": view.status },
      label), " ", view.hint),
    h("dl", { class: "facts" },
      fact("Customer", license.customer, "customer"),
      fact("Plan", PLANS[license.plan] ?? license.plan, "plan"),
      fact("Expires", `${formatTime(license.expires_at)} (${view.days_left >= 0 ? `in ${days(view.days_left)}`
        : `${days(-view.days_left)} ago`})`, "expires"),
      view.status === "grace" ? fact("Locks", `${formatTime(view.locks_at)} (in ${days(view.grace_days_left)})`, "locks")
        : null,
      fact("Seats", seats(view), "seats"),
      fact("Features", license.features.join(", ") || "none", "features"),
      fact("Issued", formatTime(license.issued_at), "issued"),
      fact("Installed", view.installed_at ? `${formatTime(view.installed_at)} (${view.source ?? "key"})` : null,
        "installed"),
      fact("License ID", h("span", { class: "mono" }, license.license_id), "license-id")));
}

function licenseKeyForm(reload) {
  const outcome = h("div", { class: "form-outcome", "aria-live": "polite" });
  const key = h("textarea", { name: "license_key", rows: 3, required: true, spellcheck: "false", class: "mono",
    placeholder: "nsx_…" });
  const form = h("form", { class: "stack", "aria-label": "Install a license key" },
    h("label", {}, "New or renewed license key", key),
    h("div", { class: "button-row" }, h("button", { class: "button button-primary", type: "submit" }, "Install key")),
    outcome);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api.put("/license", { license_key: key.value.trim() });
      await reload(successNotice("License installed."));
    } catch (error) {
      outcome.replaceChildren(errorNotice(error));
    }
  });
  return form;
}

export async function licensePage(view, context) {
  const draw = async (notice) => {
    const current = await api.get("/license");
    view.replaceChildren(
      pageHeader("License"),
      notice ?? "",
      panel("This box's license", licenseFacts(current)),
      context.user.role === "admin" ? panel("Install a license key", licenseKeyForm(draw)) : null);
  };
  await draw(null);
}
