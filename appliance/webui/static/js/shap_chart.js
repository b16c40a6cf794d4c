// The SHAP explanation of a score as horizontal bars: what pushed the score up (right) or down (left).

import { h } from "./elements.js";

const MAX_FEATURES = 12;

// shap_json: {"base_value", "features": {name: contribution}, "model_version"}; any key may be missing.
export function explanationFrom(shapJson) {
  const source = shapJson && typeof shapJson === "object" ? shapJson : {};
  const features = source.features && typeof source.features === "object" && !Array.isArray(source.features)
    ? source.features : {};
  const contributions = Object.entries(features)
    .map(([name, value]) => [name, Number(value)])
    .filter(([, value]) => Number.isFinite(value))
    .sort((a, b) => Math.abs(b[1]) - Math.abs(a[1]));
  const base = Number(source.base_value);
  return {
    baseValue: Number.isFinite(base) ? base : null,
    modelVersion: typeof source.model_version === "string" ? source.model_version : null,
    space: typeof source.space === "string" ? source.space : null, // e.g. "log-odds": the values' unit
    contributions,
  };
}

const signed = (value) => `${value >= 0 ? "+" : "−"}${Math.abs(value).toFixed(3)}`;

export function shapChart(shapJson, score) {
  const { baseValue, modelVersion, space, contributions } = explanationFrom(shapJson);
  if (contributions.length === 0) {
    return h("p", { class: "muted shap-empty" },
      "No model explanation was recorded for this score (the rule alone raised it, or the model was not loaded).");
  }
  const shown = contributions.slice(0, MAX_FEATURES);
  const largest = Math.max(...shown.map(([, value]) => Math.abs(value)), 1e-9);
  const rows = shown.map(([name, value]) => {
    const bar = h("span", { class: `shap-bar ${value >= 0 ? "shap-up" : "shap-down"}` });
    bar.style.width = `${(Math.abs(value) / largest) * 50}%`;
    return h("li", { class: "shap-row", "data-feature": name },
      h("span", { class: "shap-name", title: name }, name),
      h("span", { class: "shap-track", "aria-hidden": "true" }, h("span", { class: "shap-axis" }), bar),
      h("span", { class: `shap-value ${value >= 0 ? "shap-up-text" : "shap-down-text"}` }, signed(value)));
  });
  const hidden = contributions.length - shown.length;
  return h("figure", { class: "shap" },
    h("figcaption", { class: "shap-caption" },
      h("span", {}, "Base value ", h("strong", {}, baseValue === null ? "—" : baseValue.toFixed(3))),
      score === undefined || score === null ? null : h("span", {}, "Score ", h("strong", {}, Number(score).toFixed(3))),
      h("span", {}, "Model ", h("strong", {}, modelVersion ?? "unknown")),
      space ? h("span", {}, "Units ", h("strong", {}, space)) : null,
      h("span", { class: "shap-legend" },
        h("span", { class: "legend-swatch shap-up" }), "raises the score",
        h("span", { class: "legend-swatch shap-down" }), "lowers it")),
    h("ul", { class: "shap-rows", "aria-label": "Feature contributions to the score" }, rows),
    hidden > 0 ? h("p", { class: "muted small" }, `${hidden} smaller contributions not shown.`) : null);
}
