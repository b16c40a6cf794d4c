// One's own account: a new password, a one-time code app (TOTP) enrolled with a QR code the box draws itself,
// and the one-time recovery codes for when that app is lost.

import { api, session } from "./api.js";
import { errorNotice, h, pageHeader, panel, successNotice } from "./elements.js";

const SVG = "http://www.w3.org/2000/svg";
const QUIET_ZONE = 4; // modules of light border a scanner needs around the code

function svg(tag, attributes) {
  const element = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) element.setAttribute(name, String(value));
  return element;
}

// The QR code as the box computed it: one string per row, "1" dark. One path, no inline style (the CSP).
export function qrCode(rows, label) {
  const size = rows.length + 2 * QUIET_ZONE;
  const dark = rows.flatMap((row, y) => [...row].map((module, x) => (module === "1" ? `M${x} ${y}h1v1h-1z` : "")));
  const image = svg("svg", { viewBox: `${-QUIET_ZONE} ${-QUIET_ZONE} ${size} ${size}`, width: 220, height: 220,
    role: "img", "aria-label": label, class: "qr-code", "shape-rendering": "crispEdges" });
  image.append(svg("rect", { x: -QUIET_ZONE, y: -QUIET_ZONE, width: size, height: size, fill: "#fff" }),
    svg("path", { d: dark.join(""), fill: "#000" }));
  return image;
}

function form(label, fields, submitText, onSubmit) {
  const outcome = h("div", { class: "form-outcome", "aria-live": "polite" });
  const element = h("form", { class: "form-grid", "aria-label": label, novalidate: true }, fields,
    h("div", { class: "form-end" }, h("button", { class: "button button-primary", type: "submit" }, submitText)),
    h("div", { class: "span-all" }, outcome));
  element.addEventListener("submit", async (event) => {
    event.preventDefault();
    outcome.replaceChildren();
    try {
      await onSubmit(Object.fromEntries(new FormData(element)), outcome);
    } catch (error) {
      outcome.replaceChildren(errorNotice(error));
    }
  });
  return element;
}

const passwordField = (name, label, autocomplete) =>
  h("label", {}, label, h("input", { name, type: "password", autocomplete, required: true }));

function passwordForm(redraw) {
  return form("Change my password", [
    passwordField("current_password", "Current password", "current-password"),
    passwordField("new_password", "New password", "new-password"),
    h("p", { class: "muted small span-all" }, "At least 12 characters; common and breached passwords are refused. "
      + "A long phrase of ordinary words is easy to type and hard to guess."),
  ], "Change password", async (fields) => {
    const token = await api.post("/auth/password", fields);
    session.start(token.access_token); // every earlier token of this account stopped working
    await redraw(successNotice("Password changed. Other sessions of this account are signed out."));
  });
}

function recoveryCodesNotice(codes, intro) {
  return h("div", { class: "stack", "data-recovery-codes": "yes" }, successNotice(intro),
    h("pre", { class: "code recovery-codes" }, codes.join("\n")),
    h("p", { class: "muted" }, "Keep them somewhere safe, away from this device: each signs you in once instead of a "
      + "one-time code. They are not shown again."));
}

function enrolment(outcome, redraw) {
  return h("div", { class: "stack" },
    h("p", {}, "Sign-in then asks for a six-digit code from an app such as FreeOTP, Aegis or Google Authenticator."),
    h("div", { class: "button-row" }, h("button", { class: "button button-primary", type: "button", onclick: async () => {
      try {
        const started = await api.post("/auth/totp/enroll");
        outcome.replaceChildren(enrolmentSteps(started, redraw));
      } catch (error) {
        outcome.replaceChildren(errorNotice(error));
      }
    } }, "Set up a one-time code app")),
    outcome);
}

function enrolmentSteps(started, redraw) {
  return h("div", { class: "enrolment" },
    qrCode(started.qr_modules, "QR code to scan with the one-time code app"),
    h("div", { class: "stack" },
      h("p", {}, "1. Scan this code with the app, or type the key:"),
      h("p", { class: "mono", "data-totp-secret": started.secret }, started.secret.match(/.{1,4}/g).join(" ")),
      h("p", {}, "2. Enter the six-digit code the app shows now:"),
      form("Confirm the one-time code app", [
        h("label", {}, "Code from the app",
          h("input", { name: "code", inputmode: "numeric", autocomplete: "one-time-code", maxlength: 8, required: true })),
      ], "Confirm", async (fields) => {
        const enabled = await api.post("/auth/totp/confirm", { code: fields.code.trim() });
        await redraw(recoveryCodesNotice(enabled.recovery_codes,
          "One-time codes are on for this account. Here are your recovery codes."));
      })));
}

function enrolled(me, redraw) {
  return h("div", { class: "stack" },
    h("p", {}, "On. Sign-in asks for a code from your app, or one of your recovery codes."),
    h("p", { "data-recovery-left": me.recovery_codes_left },
      `${me.recovery_codes_left} unused recovery code${me.recovery_codes_left === 1 ? "" : "s"} left.`),
    form("Make new recovery codes", [passwordField("password", "Your password", "current-password")],
      "Make new recovery codes", async (fields) => {
        const renewed = await api.post("/auth/totp/recovery-codes", fields);
        await redraw(recoveryCodesNotice(renewed.recovery_codes, "New recovery codes made: the earlier ones no longer work."));
      }));
}

export async function accountPage(view) {
  const draw = async (notice) => {
    const me = await api.get("/auth/me");
    const outcome = h("div", { class: "form-outcome", "aria-live": "polite" });
    view.replaceChildren(
      pageHeader("My account", h("span", { class: "muted" }, `${me.username} · ${me.role}`)),
      notice ?? "",
      panel("Password", passwordForm(draw)),
      panel("One-time codes (two-factor sign-in)", me.totp_enabled ? enrolled(me, draw) : enrolment(outcome, draw)));
  };
  await draw(null);
}
