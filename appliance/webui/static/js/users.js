// Users (admins): who may sign in, with which role; a new user, a role change, a disabled account, a lost
// second factor switched off, a new password for someone who forgot theirs.

import { api } from "./api.js";
import { confirmingButton, errorNotice, formatTime, h, pageHeader, panel, successNotice } from "./elements.js";

export const ROLES = [
  ["viewer", "Viewer: reads alerts and reports"],
  ["analyst", "Analyst: also triages, whitelists, makes reports"],
  ["admin", "Admin: also users, settings and the box"],
];

// In the form each role says what it allows; in the table its name is enough.
const roleSelect = (name, selected, label, explained = false) => h("select", { name, "aria-label": label },
  ROLES.map(([value, text]) => h("option", { value, selected: value === selected }, explained ? text : value)));

function newUserForm(reload) {
  const outcome = h("div", { class: "form-outcome", "aria-live": "polite" });
  const form = h("form", { class: "form-grid", "aria-label": "Add a user", novalidate: true },
    h("label", {}, "Username", h("input", { name: "username", required: true, autocomplete: "off", maxlength: 64 })),
    h("label", {}, "First password",
      h("input", { name: "password", type: "password", required: true, autocomplete: "new-password" })),
    h("label", { class: "span-2" }, "Role", roleSelect("role", "viewer", null, true)),
    h("div", { class: "form-end" }, h("button", { class: "button button-primary", type: "submit" }, "Add user")),
    h("p", { class: "muted small span-all" }, "At least 12 characters, not a common or breached password. "
      + "Give it to the person by a separate way; they can change it under My account."),
    h("div", { class: "span-all" }, outcome));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const fields = Object.fromEntries(new FormData(form));
    try {
      const user = await api.post("/users", { ...fields, username: fields.username.trim() });
      form.reset();
      await reload(successNotice(`Added ${user.username} as ${user.role}.`));
    } catch (error) {
      outcome.replaceChildren(errorNotice(error));
    }
  });
  return form;
}

function userRow(user, me, reload) {
  const change = (body, done) => async () => {
    try {
      await api.patch(`/users/${encodeURIComponent(user.username)}`, body);
      await reload(successNotice(done));
    } catch (error) {
      await reload(errorNotice(error));
    }
  };
  const role = roleSelect("role", user.role, `Role of ${user.username}`);
  role.addEventListener("change", () => change({ role: role.value }, `${user.username} is now ${role.value}.`)());
  const self = user.username === me.username;
  return h("tr", { "data-username": user.username },
    h("td", {}, h("strong", {}, user.username), self ? h("span", { class: "muted" }, " (you)") : null),
    h("td", {}, role),
    h("td", {}, user.disabled ? "disabled" : "active"),
    h("td", {}, user.totp_enabled ? "on" : "off"),
    h("td", { class: "nowrap" }, formatTime(user.created_at)),
    h("td", {}, h("div", { class: "button-row" },
      self ? null : newPasswordForm(user, reload),
      user.disabled
        ? h("button", { class: "button", type: "button", onclick: change({ disabled: false }, `${user.username} can sign in again.`) }, "Enable")
        : confirmingButton("Disable", "Confirm disable", change({ disabled: true }, `${user.username} can no longer sign in.`)),
      user.totp_enabled ? confirmingButton("Switch off one-time codes", "Confirm switch off",
        change({ totp_enabled: false }, `${user.username} signs in with the password alone until they enrol again.`)) : null,
      self ? null : confirmingButton("Delete", "Confirm delete", async () => {
        try {
          await api.delete(`/users/${encodeURIComponent(user.username)}`);
          await reload(successNotice(`Deleted ${user.username}.`));
        } catch (error) {
          await reload(errorNotice(error));
        }
      }))));
}

// For someone who forgot theirs: the new password ends every session of theirs; they change it under My account.
function newPasswordForm(user, reload) {
  const outcome = h("div", { class: "form-outcome", "aria-live": "polite" });
  const password = h("input", { name: "password", type: "password", autocomplete: "new-password",
    "aria-label": `New password for ${user.username}` });
  const form = h("form", { class: "button-row", "aria-label": `New password for ${user.username}`, novalidate: true },
    password, h("button", { class: "button", type: "submit" }, "Set"), outcome);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    try {
      await api.patch(`/users/${encodeURIComponent(user.username)}`, { password: password.value });
      await reload(successNotice(`New password set for ${user.username}; their sessions were signed out.`));
    } catch (error) {
      outcome.replaceChildren(errorNotice(error));
    }
  });
  return h("details", { class: "inline-details" }, h("summary", {}, "New password"), form);
}

export async function usersPage(view, context) {
  const draw = async (notice) => {
    const found = await api.get("/users");
    view.replaceChildren(
      pageHeader("Users"),
      notice ?? "",
      h("div", { class: "table-wrap panel" }, h("table", { class: "table" },
        h("thead", {}, h("tr", {}, ["User", "Role", "Account", "One-time codes", "Added", ""]
          .map((title) => h("th", { scope: "col" }, title)))),
        h("tbody", {}, found.users.map((user) => userRow(user, context.user, draw))))),
      panel("Add a user", newUserForm(draw)));
  };
  await draw(null);
}
