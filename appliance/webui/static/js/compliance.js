// Compliance: the NIS2 readiness checks and the settings the checks and reports read.

import { api } from "./api.js";
import { errorNotice, formatTime, h, humanise, optionalPanel, pageHeader, panel, successNotice } from "./elements.js";

// The seed's PUT body; a box that also serves GET /compliance/settings fills in all of its fields.
const SEED_SETTINGS = { csirt_contact: "", irp_reference: "", supply_chain_assessed: false };

function readiness(status) {
  return h("div", { class: "stack" },
    h("div", { class: "score-line" },
      h("span", { class: "score-number" }, `${status.score}%`),
      h("span", { class: "muted" }, `${status.passed} of ${status.total} checks pass · checked ${formatTime(status.generated_at)}`)),
    h("ul", { class: "checks" }, status.checks.map((check) =>
      h("li", { class: `check ${check.passed ? "check-pass" : "check-fail"}`, "data-check": check.id },
        h("span", { class: "check-mark", "aria-label": check.passed ? "passed" : "failed" }, check.passed ? "✓" : "✗"),
        h("div", {},
          h("strong", {}, check.title), h("span", { class: "muted small" }, ` ${check.article}`),
          h("p", { class: "small" }, check.evidence),
          check.remediation ? h("p", { class: "small remediation" }, `To do: ${check.remediation}`) : null)))),
    status.disclaimer ? h("p", { class: "muted small" }, status.disclaimer) : null);
}

function settingsForm(settings) {
  const outcome = h("div", { class: "form-outcome", "aria-live": "polite" });
  const fields = Object.entries(settings).filter(([, value]) => ["string", "boolean"].includes(typeof value));
  const form = h("form", { class: "form-grid", "aria-label": "Compliance settings" },
    fields.map(([name, value]) => (typeof value === "boolean"
      ? h("label", { class: "checkbox span-2" }, h("input", { type: "checkbox", name, checked: value }), humanise(name))
      : h("label", {}, humanise(name), h("input", { name, value, maxlength: 300 })))),
    h("div", { class: "form-end" }, h("button", { class: "button button-primary", type: "submit" }, "Save")),
    h("div", { class: "span-all" }, outcome));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const changes = Object.fromEntries(fields.map(([name, value]) =>
      [name, typeof value === "boolean" ? form.elements[name].checked : form.elements[name].value]));
    try {
      await api.put("/compliance/settings", changes);
      outcome.replaceChildren(successNotice("Saved. The readiness checks use the new settings."));
    } catch (error) {
      outcome.replaceChildren(errorNotice(error));
    }
  });
  return form;
}

async function settingsPanel(context) {
  if (!context.paths.has("/compliance/settings")) return null;
  let settings = SEED_SETTINGS;
  try {
    settings = { ...SEED_SETTINGS, ...(await api.get("/compliance/settings")) };
  } catch (error) {
    if (error.status !== 404 && error.status !== 405) return panel("Settings", errorNotice(error));
  }
  return panel("Settings", settingsForm(settings));
}

export async function compliancePage(view, context) {
  view.append(
    pageHeader("Compliance"),
    optionalPanel(context, "NIS2 readiness", "/compliance/status", {}, readiness),
    await settingsPanel(context));
}
