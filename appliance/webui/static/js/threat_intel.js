// Threat intelligence: the feeds and imports the box matches traffic against, with their last result and what
// the retro-hunt for their new indicators found in past traffic; an indicator searched (which sources list it,
// whether it matches or what overrules the feeds); a file imported.

import { api } from "./api.js";
import { errorNotice, formatTime, h, pageHeader, panel, successNotice } from "./elements.js";

const KINDS = { file: "file import", taxii: "TAXII 2.1 feed", https_list: "HTTPS feed" };
const FILE_HASHES = ["file_md5", "file_sha1", "file_sha256"];
const FORMATS = { stix: "STIX 2.1", misp: "MISP", list: "CSV / list" };
const OVERRULED = {
  shared_infrastructure: "a CDN or shared-hosting address: never matched alone",
  top_site: "a top site: overrules every feed",
  allowlist: "the site's allowlist: overrules every feed",
};

function lastResult(source) {
  if (source.last_result === "error") return h("span", { class: "badge severity-high", title: source.last_error }, `error: ${source.last_error}`);
  if (source.last_result !== "ok") return "not fetched yet";
  const refused = source.last_refused ? `, ${source.last_refused} entries refused` : "";
  return `ok, ${formatTime(source.last_success_at)}${refused}`;
}

function foundLater(source) {
  const hunt = source.retro_hunt;
  if (!hunt) return "";
  const title = `the ${hunt.indicators} new indicators of ${formatTime(hunt.created_at)}, searched in the flow log`;
  if (hunt.state !== "done") return h("span", { title }, hunt.state === "waiting" ? "search queued" : "searching…");
  const already = hunt.already_alerted ? `, ${hunt.already_alerted} already alerted` : "";
  const alerts = `${hunt.found} alert${hunt.found === 1 ? "" : "s"}`;
  return h("span", { title },
    hunt.found ? h("a", { href: "#/alerts?rule=THREAT_INTEL_MATCH" }, alerts) : alerts, ` in past traffic${already}`);
}

function sourceRow(source, canEdit, draw) {
  const toggle = async () => {
    try {
      await api.patch(`/threat-intel/sources/${encodeURIComponent(source.id)}`, { enabled: !source.enabled });
      await draw(successNotice(`${source.name} ${source.enabled ? "disabled: it no longer matches" : "enabled"}.`));
    } catch (error) {
      await draw(errorNotice(error));
    }
  };
  return h("tr", { "data-source": source.name },
    h("td", {}, source.name),
    h("td", {}, `${KINDS[source.kind] ?? source.kind}, ${FORMATS[source.format] ?? source.format}`),
    h("td", { class: "numeric" }, String(source.indicator_count)),
    h("td", {}, lastResult(source)),
    h("td", { "data-found-later": "" }, foundLater(source)),
    h("td", {}, h("span", { class: `badge ${source.enabled ? "status-resolved" : "status-reviewed"}` }, source.enabled ? "on" : "off")),
    h("td", {}, canEdit ? h("button", { class: "button", type: "button", onclick: toggle }, source.enabled ? "Disable" : "Enable") : null));
}

function importForm(draw) {
  const outcome = h("div", { class: "form-outcome", "aria-live": "polite" });
  const form = h("form", { class: "form-grid", "aria-label": "Import a threat-intel file", novalidate: true },
    h("label", {}, "File", h("input", { name: "file", type: "file", required: true })),
    h("label", {}, "Source name", h("input", { name: "name", maxlength: 100, placeholder: "the file's name" })),
    h("label", {}, "Format", h("select", { name: "format" },
      [["", "Recognise it"], ["stix", "STIX 2.1 bundle"], ["misp", "MISP event"], ["list", "CSV or one per line"]]
        .map(([value, text]) => h("option", { value }, text)))),
    h("label", {}, "Expiry (days)", h("input", { name: "expiry_days", inputmode: "decimal", placeholder: "the file's own" })),
    h("div", { class: "form-end" }, h("button", { class: "button button-primary", type: "submit" }, "Import")),
    h("div", { class: "span-all" }, outcome));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    outcome.replaceChildren();
    const file = form.elements.file.files[0];
    if (!file) return outcome.replaceChildren(h("div", { class: "notice notice-error", role: "alert" }, "Choose a file first."));
    const query = { name: form.elements.name.value.trim() || file.name };
    if (form.elements.format.value) query.format = form.elements.format.value;
    if (form.elements.expiry_days.value.trim()) query.expiry_days = form.elements.expiry_days.value.trim();
    try {
      const result = await api.upload("/threat-intel/imports", query, file);
      await draw(successNotice(`${result.source.name}: ${result.received} indicators read, ${result.added} new, `
        + `${result.refused} entries refused.`));
    } catch (error) {
      await draw(errorNotice(error));  // drawn again: a refused file is the source's last result too
    }
  });
  return form;
}

function searchResult(found) {
  const verdict = found.matches ? "Matches: traffic touching it raises THREAT_INTEL_MATCH."
    : found.overruled_by ? `Does not match: ${OVERRULED[found.overruled_by] ?? found.overruled_by} (${found.overruled_detail}).`
      : found.found.length && found.found.every((item) => FILE_HASHES.includes(item.kind))
        ? "Does not match: the box sees no files to hash; it is kept for searching."
        : found.found.length ? "Does not match: every source listing it is disabled." : "No source lists it.";
  const rows = found.found.map((item) => h("tr", {},
    h("td", {}, item.source), h("td", {}, item.kind), h("td", { class: "mono" }, item.value),
    h("td", { class: "numeric" }, String(item.confidence)), h("td", {}, formatTime(item.first_seen)),
    h("td", {}, formatTime(item.last_seen)), h("td", {}, item.expires_at ? formatTime(item.expires_at) : "never")));
  return h("div", { class: "stack", "data-search-result": "" },
    h("p", {}, verdict),
    rows.length ? h("div", { class: "table-wrap" }, h("table", { class: "table" },
      h("thead", {}, h("tr", {}, ["Source", "Kind", "Indicator", "Confidence", "First seen", "Last seen", "Expires"]
        .map((title) => h("th", { scope: "col" }, title)))), h("tbody", {}, rows))) : null);
}

function searchForm() {
  const result = h("div", { "aria-live": "polite" });
  const form = h("form", { class: "form-grid", "aria-label": "Search an indicator" },
    h("label", { class: "span-2" }, "Address, domain, URL or hash", h("input", { name: "q", required: true, maxlength: 2000 })),
    h("div", { class: "form-end" }, h("button", { class: "button", type: "submit" }, "Search")),
    h("div", { class: "span-all" }, result));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      result.replaceChildren(searchResult(await api.get("/threat-intel/search", { q: form.elements.q.value.trim() })));
    } catch (error) {
      result.replaceChildren(errorNotice(error));
    }
  });
  return form;
}

export async function threatIntelPage(view, context) {
  const canEdit = context.user.role === "admin";
  const draw = async (notice) => {
    const { sources } = await api.get("/threat-intel/sources");
    view.replaceChildren(
      pageHeader("Threat intel"),
      notice ?? "",
      panel("Search an indicator", searchForm()),
      canEdit ? panel("Import a file", importForm(draw)) : "",
      sources.length === 0
        ? panel(null, h("p", { class: "empty" }, "No feed and no import yet: THREAT_INTEL_MATCH has nothing to match."))
        : h("div", { class: "table-wrap panel" }, h("table", { class: "table" },
          h("thead", {}, h("tr", {}, ["Source", "Kind", "Indicators", "Last result", "Found later", "", ""]
            .map((title) => h("th", { scope: "col" }, title)))),
          h("tbody", {}, sources.map((source) => sourceRow(source, canEdit, draw))))));
  };
  await draw(null);
}
