// The notes history of an alert or an incident: who wrote what, when, oldest first; a form to add one.

import { api } from "./api.js";
import { errorNotice, formatTime, h, panel } from "./elements.js";

function noteItem(note) {
  return h("li", { class: "note", "data-note-id": note.id },
    h("div", { class: "note-meta" }, h("strong", {}, note.author), " · ", formatTime(note.written_at)),
    h("p", { class: "note-text" }, note.text));
}

function noteList(notes) {
  if (notes.length === 0) return h("p", { class: "muted" }, "No notes yet.");
  return h("ol", { class: "plain-list notes" }, notes.map(noteItem));
}

function noteForm(path, list) {
  const text = h("textarea", { name: "note", rows: 3, maxlength: 10000, required: true });
  const outcome = h("div", { class: "form-outcome", "aria-live": "polite" });
  const form = h("form", { class: "stack", "aria-label": "Add a note" },
    h("label", {}, "New note", text),
    h("div", { class: "button-row" }, h("button", { class: "button", type: "submit" }, "Add note")),
    outcome);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    outcome.replaceChildren();
    try {
      await api.post(path, { text: text.value.trim() });
      form.reset();
      list.replaceChildren(noteList((await api.get(path)).notes));
    } catch (error) {
      outcome.replaceChildren(errorNotice(error));
    }
  });
  return form;
}

export async function notesPanel(path, canWrite) {
  const list = h("div", { "data-notes": "" }, noteList((await api.get(path)).notes));
  return panel("Notes", list, canWrite ? noteForm(path, list) : null);
}
