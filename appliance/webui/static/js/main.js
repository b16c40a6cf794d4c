// The page: signing in (and unsealing a sealed box), the navigation, and which view shows for which #/path.

import { accountPage } from "./account.js";
import { api, ApiError, servedPaths, session } from "./api.js";
import { alertDetail, alertList } from "./alerts.js";
import { auditPage } from "./audit.js";
import { boxPage, hasBoxPages } from "./box.js";
import { compliancePage } from "./compliance.js";
import { devicesPage } from "./devices.js";
import { egressPage } from "./egress.js";
import { describeError, errorNotice, h, useTimeZone } from "./elements.js";
import { exportPage } from "./export.js";
import { licensePage } from "./license.js";
import { notificationsPage } from "./notifications.js";
import { outboxPage } from "./outbox.js";
import { threatIntelPage } from "./threat_intel.js";
import { overviewPage } from "./overview.js";
import { breachesPage, incidentDetail, incidentsPage } from "./registers.js";
import { sensorsPage } from "./sensors.js";
import { sitePage } from "./site.js";
import { tokensPage } from "./tokens.js";
import { traceDetail, traceList } from "./traces.js";
import { usersPage } from "./users.js";
import { whitelistPage } from "./whitelist.js";

const $ = (id) => document.getElementById(id);

// Each page: its #/name, its label, when it shows in the navigation, and how it draws itself.
const PAGES = [
  { name: "overview", label: "Overview", shown: () => true, draw: overviewPage },
  { name: "alerts", label: "Alerts", shown: () => true, draw: alertList, drawOne: alertDetail },
  { name: "devices", label: "Devices", shown: (c) => c.paths.has("/devices"), draw: devicesPage },
  { name: "whitelist", label: "Whitelist", shown: () => true, draw: whitelistPage },
  { name: "threat-intel", label: "Threat intel", shown: (c) => c.paths.has("/threat-intel/sources"), draw: threatIntelPage },
  { name: "traces", label: "Decision traces", shown: () => true, draw: traceList, drawOne: traceDetail },
  { name: "incidents", label: "Incidents", shown: (c) => c.paths.has("/compliance/incidents"), draw: incidentsPage,
    drawOne: incidentDetail },
  { name: "breaches", label: "Breaches", shown: (c) => c.paths.has("/compliance/breaches"), draw: breachesPage },
  { name: "compliance", label: "Compliance", shown: (c) => c.paths.has("/compliance/status"), draw: compliancePage },
  { name: "sensors", label: "Sensors", shown: (c) => c.paths.has("/agents") && c.user.role === "admin", draw: sensorsPage },
  { name: "license", label: "License", shown: (c) => c.paths.has("/license"), draw: licensePage },
  { name: "box", label: "This box", shown: (c) => hasBoxPages(c.paths), draw: boxPage },
  { name: "site", label: "Site settings", shown: (c) => c.paths.has("/settings/site"), draw: sitePage },
  { name: "users", label: "Users", shown: (c) => c.user.role === "admin", draw: usersPage },
  { name: "account", label: "My account", shown: () => true, draw: accountPage },
  { name: "audit", label: "Audit log", shown: (c) => c.user.role === "admin", draw: auditPage },
  { name: "notifications", label: "Notifications", shown: (c) => c.paths.has("/notifications/channels"), draw: notificationsPage },
  { name: "outbox", label: "Outbox", shown: (c) => c.paths.has("/notifications/outbox"), draw: outboxPage },
  { name: "export", label: "SIEM export", shown: (c) => c.paths.has("/export/destinations"), draw: exportPage },
  { name: "tokens", label: "API tokens", shown: (c) => c.paths.has("/api-tokens"), draw: tokensPage },
  { name: "egress", label: "What leaves the box", shown: (c) => c.paths.has("/egress"), draw: egressPage },
];

function navigate(name, query = {}) {
  const kept = Object.entries(query).filter(([key, value]) =>
    value !== "" && value !== undefined && value !== null && !(key === "offset" && Number(value) === 0));
  const params = new URLSearchParams(kept);
  const search = params.toString();
  const target = `#/${name}${search ? `?${search}` : ""}`;
  if (window.location.hash === target) drawRoute(); // same address: no hashchange, so redraw here
  else window.location.hash = target;
}

function parseHash() {
  const [path, query] = window.location.hash.replace(/^#\/?/, "").split("?");
  const [name, ...rest] = path.split("/");
  return { name: name || "overview", id: rest.length ? decodeURIComponent(rest.join("/")) : null,
    params: new URLSearchParams(query ?? "") };
}

let signedIn = null; // {user, paths} while a session is open

// Served by the box itself, written without a script: nothing on it comes from anywhere else.
const API_DOCS = "/api/v1/schema/docs";

function drawNavigation(context, current) {
  $("nav").replaceChildren(...PAGES.filter((page) => page.shown(context)).map((page) =>
    h("li", {}, h("a", { href: `#/${page.name}`, "aria-current": page.name === current ? "page" : null }, page.label))),
  h("li", {}, h("a", { href: API_DOCS }, "API documentation")));
}

async function drawRoute() {
  if (!signedIn) return;
  const { name, id, params } = parseHash();
  const context = { ...signedIn, params, navigate };
  const page = PAGES.find((candidate) => candidate.name === name && candidate.shown(context)) ?? PAGES[0];
  drawNavigation(context, page.name);
  const view = h("div", { class: "view", "data-page": page.name, "aria-busy": "true" });
  $("content").replaceChildren(view);
  try {
    if (id && page.drawOne) await page.drawOne(view, context, id);
    else await page.draw(view, context);
  } catch (error) {
    if (error instanceof ApiError && error.status === 401) return; // the sign-in form has taken over
    if (!(error instanceof ApiError)) console.error(error); // a fault in the page itself: for the developer
    view.append(errorNotice(error));
  } finally {
    view.removeAttribute("aria-busy");
  }
}

function showGate(form, message) {
  signedIn = null;
  $("shell").hidden = true;
  $("gate").hidden = false;
  $("login-form").hidden = form !== "login";
  $("unseal-form").hidden = form !== "unseal";
  const errorBox = $(form === "login" ? "login-error" : "unseal-error");
  errorBox.hidden = !message;
  errorBox.textContent = message ?? "";
  $(`${form}-form`).querySelector("input").focus();
}

async function openSession() {
  const [user, paths] = await Promise.all([api.get("/auth/me"), servedPaths()]);
  if (paths.has("/settings/site")) useTimeZone((await api.get("/settings/site")).current.business_hours.timezone);
  signedIn = { user, paths };
  $("who").textContent = `${user.username} · ${user.role}`;
  $("gate").hidden = true;
  $("shell").hidden = false;
  await drawRoute();
}

// A sealed box answers 423 to everything but the health probe and unsealing.
async function isSealed() {
  try {
    return (await api.get("/health")).sealed === true;
  } catch {
    return false;
  }
}

async function signIn(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const button = form.querySelector("button[type=submit]");
  const { username, password, totp } = Object.fromEntries(new FormData(form));
  button.disabled = true;
  try {
    const body = { username: username.trim(), password };
    // Always offered: the box answers a missing code like a wrong password, so it cannot ask for one.
    // Digits are an app's one-time code; letters make it one of the account's recovery codes.
    const code = totp.trim();
    if (/^\d+$/.test(code)) body.totp = code;
    else if (code) body.recovery_code = code;
    const token = await api.post("/auth/login", body);
    session.start(token.access_token);
    form.reset();
    await openSession();
  } catch (error) {
    if (error instanceof ApiError && error.status === 423 && await isSealed()) {
      showGate("unseal", null);
      return;
    }
    showGate("login", describeError(error));
  } finally {
    button.disabled = false;
  }
}

async function unseal(event) {
  event.preventDefault();
  const form = event.currentTarget;
  try {
    await api.post("/system/unseal", { passphrase: form.elements.passphrase.value });
    form.reset();
    if (session.token()) await openSession();
    else showGate("login", null);
  } catch (error) {
    showGate("unseal", describeError(error));
  }
}

async function signOut() {
  try {
    await api.post("/auth/logout");
  } catch {
    // Already expired or revoked: signing out locally is all that is left to do.
  }
  session.end();
  window.location.hash = "";
  showGate("login", null);
}

async function start() {
  $("login-form").addEventListener("submit", signIn);
  $("unseal-form").addEventListener("submit", unseal);
  $("logout").addEventListener("click", signOut);
  window.addEventListener("hashchange", drawRoute);
  window.addEventListener("netsenx:session-ended", (event) => {
    session.end();
    showGate("login", `Please sign in again: ${event.detail}`);
  });
  window.addEventListener("netsenx:locked", async () => {
    if (await isSealed()) showGate("unseal", null);
  });
  if (await isSealed()) {
    showGate("unseal", null);
    return;
  }
  if (!session.token()) {
    showGate("login", null);
    return;
  }
  try {
    await openSession();
  } catch (error) {
    if (!(error instanceof ApiError && error.status === 401)) showGate("login", describeError(error));
  }
}

start();
