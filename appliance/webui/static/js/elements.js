// Building page elements. Text from the API only ever becomes text nodes, never markup.

import { api, ApiError } from "./api.js";

export function h(tag, attributes, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes ?? {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name === "class") element.className = value;
    else if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else if (name === "value") element.value = value;
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    element.append(child instanceof Node ? child : String(child));
  }
  return element;
}

// Times show in the site's time zone (its settings), with the zone named, whatever the viewer's computer uses.
const timeFormatIn = (zone) => new Intl.DateTimeFormat("en-GB", { timeZone: zone, timeZoneName: "short",
  hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
  second: "2-digit" });
let timeFormat = timeFormatIn(undefined); // the browser's own zone until the site's is known

export function useTimeZone(zone) {
  try {
    timeFormat = timeFormatIn(zone);
  } catch {
    timeFormat = timeFormatIn(undefined); // a zone this browser does not know: its own, still named
  }
}

export function formatTime(epochSeconds) {
  if (epochSeconds === undefined || epochSeconds === null || epochSeconds === "") return "—";
  const date = new Date(Number(epochSeconds) * 1000);
  if (Number.isNaN(date.getTime())) return String(epochSeconds);
  const part = Object.fromEntries(timeFormat.formatToParts(date).map(({ type, value }) => [type, value]));
  return `${part.year}-${part.month}-${part.day} ${part.hour}:${part.minute}:${part.second} ${part.timeZoneName}`;
}

const wallClock = (epochMs) => {
  const part = Object.fromEntries(timeFormat.formatToParts(new Date(epochMs)).map(({ type, value }) => [type, value]));
  return { ...part, asUtc: Date.UTC(part.year, part.month - 1, part.day, part.hour, part.minute, part.second) };
};

export const timeZoneName = () => timeFormat.resolvedOptions().timeZone;

// A date-and-time field's "YYYY-MM-DDTHH:MM" is a wall time in the site's zone, like every time shown.
export function toTimeField(epochSeconds) {
  const wall = wallClock(epochSeconds * 1000);
  return `${wall.year}-${wall.month}-${wall.day}T${wall.hour}:${wall.minute}`;
}

export function fromTimeField(text) {
  const [year, month, day, hour, minute] = text.split(/[-T:]/).map(Number);
  const wanted = Date.UTC(year, month - 1, day, hour, minute);
  let epochMs = wanted;
  for (let pass = 0; pass < 2; pass += 1) epochMs += wanted - wallClock(epochMs).asUtc; // twice: across a DST change
  return Math.floor(epochMs / 1000);
}

export const STATUS_LABELS = {
  open: "Open",
  reviewed: "Reviewed",
  resolved: "Resolved",
  false_positive: "False positive",
};

export const severityBadge = (severity) =>
  h("span", { class: `badge severity-${String(severity).toLowerCase()}` }, severity);

export const statusBadge = (status) =>
  h("span", { class: `badge status-${status}`, "data-status": status }, STATUS_LABELS[status] ?? status);

export function describeError(error) {
  if (error instanceof ApiError) return error.detail;
  return "something went wrong in the page; reload it and try again";
}

export const errorNotice = (error) => h("div", { class: "notice notice-error", role: "alert" }, describeError(error));

export const successNotice = (text) => h("div", { class: "notice notice-success", role: "status" }, text);

export function pageHeader(title, ...extra) {
  return h("div", { class: "page-header" }, h("h1", {}, title), h("div", { class: "page-actions" }, extra));
}

export const panel = (title, ...children) =>
  h("section", { class: "panel" }, title ? h("h2", {}, title) : null, children);

const isPlainObject = (value) => value !== null && typeof value === "object" && !Array.isArray(value);
const ACRONYMS = { ip: "IP", id: "ID", url: "URL", os: "OS", sha256: "SHA-256", ja3: "JA3", dns: "DNS", tls: "TLS" };
export const humanise = (key) => String(key).split("_")
  .map((word, index) => ACRONYMS[word.toLowerCase()] ?? (index === 0 ? word.charAt(0).toUpperCase() + word.slice(1) : word))
  .join(" ");

function scalar(value) {
  if (value === null || value === undefined || value === "") return h("span", { class: "muted" }, "—");
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (typeof value === "number" && !Number.isInteger(value)) return value.toFixed(3);
  return String(value);
}

// Any JSON the box returns, laid out readably: lists of records as tables, objects as label/value lists.
// Used for evidence and for parts whose exact shape this page does not know.
export function renderData(value) {
  if (Array.isArray(value)) {
    if (value.length === 0) return h("span", { class: "muted" }, "none");
    if (value.every(isPlainObject)) return recordsTable(value);
    return h("span", {}, value.map((item) => (isPlainObject(item) ? JSON.stringify(item) : String(item))).join(", "));
  }
  if (isPlainObject(value)) {
    const entries = Object.entries(value);
    if (entries.length === 0) return h("span", { class: "muted" }, "none");
    return h("dl", { class: "facts" }, entries.map(([key, item]) => [h("dt", {}, humanise(key)), h("dd", {}, renderData(item))]));
  }
  return scalar(value);
}

function recordsTable(records) {
  const columns = [...new Set(records.flatMap((record) => Object.keys(record)))];
  return h("div", { class: "table-wrap" }, h("table", { class: "table" },
    h("thead", {}, h("tr", {}, columns.map((column) => h("th", { scope: "col" }, humanise(column))))),
    h("tbody", {}, records.map((record) => h("tr", {}, columns.map((column) => {
      const cell = record[column];
      return h("td", {}, isPlainObject(cell) || Array.isArray(cell) ? JSON.stringify(cell) : scalar(cell));
    }))))));
}

// "Showing 31–60 of 142" with previous/next buttons; `go(offset)` loads another page.
export function pager({ offset, limit, total, shown, go }) {
  const first = total === 0 ? 0 : offset + 1;
  return h("div", { class: "pager" },
    h("span", { class: "muted", "aria-live": "polite" }, `Showing ${first}–${offset + shown} of ${total}`),
    h("button", { class: "button", type: "button", disabled: offset === 0, onclick: () => go(Math.max(0, offset - limit)) },
      "Previous"),
    h("button", { class: "button", type: "button", disabled: offset + shown >= total, onclick: () => go(offset + limit) },
      "Next"));
}

// A delete button that asks for a second click instead of a modal dialog.
export function confirmingButton(label, confirmLabel, action) {
  const button = h("button", { class: "button button-danger-quiet", type: "button" }, label);
  let armed = false;
  button.addEventListener("click", async () => {
    if (!armed) {
      armed = true;
      button.textContent = confirmLabel;
      button.classList.add("armed");
      setTimeout(() => {
        armed = false;
        button.textContent = label;
        button.classList.remove("armed");
      }, 4000);
      return;
    }
    button.disabled = true;
    await action();
  });
  return button;
}

// A panel for a part of the box that may not be installed yet: absent from the box's paths, or
// answering 404, it disappears instead of showing an error.
export function optionalPanel(context, title, path, query, render) {
  if (!context.paths.has(path)) return null;
  const body = h("div", {}, h("p", { class: "muted" }, "Loading…"));
  const section = panel(title, body);
  section.dataset.panel = path;
  api.get(path, query).then(
    (data) => {
      try {
        body.replaceChildren(render(data));
      } catch {
        body.replaceChildren(renderData(data)); // a shape this page does not know yet: still show it
      }
    },
    (error) => (error.status === 404 ? section.remove() : body.replaceChildren(errorNotice(error))),
  );
  return section;
}
