"""GET/POST /alerts/{id}/notes and /compliance/incidents/{id}/notes: the notes history of a case."""

from __future__ import annotations

from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, JSONBody

from appliance.api.security import analyst, viewer
from appliance.audit.requests import record_request
from appliance.notes import history
from appliance.notes.history import Note, NoteIn, NoteList, Subject
from appliance.store.database import Store


def notes_of(store: Store, subject: Subject, subject_id: str) -> NoteList:
    connection = store.connection()
    if not history.exists(connection, subject, subject_id):
        raise NotFoundException(f"no {subject} {subject_id}")
    return NoteList(notes=history.of(connection, subject, subject_id))


def write_note(store: Store, request: Request, subject: Subject, subject_id: str, text: str) -> Note:
    with store.write_transaction() as connection:
        if not history.exists(connection, subject, subject_id):
            raise NotFoundException(f"no {subject} {subject_id}")
        note = history.add(connection, subject, subject_id, request.user.name, text)
        record_request(store, request, f"{subject}.note_added", subject_id, {"note_id": note.id})
    return note


class NotesController(Controller):
    path = "/"
    tags = ["notes"]

    @get("/alerts/{alert_id:str}/notes", guards=[viewer], sync_to_thread=True,
         summary="An alert's notes, oldest first, with author and time")
    def alert_notes(self, alert_id: FromPath[str], store: NamedDependency[Store]) -> NoteList:
        return notes_of(store, "alert", alert_id)

    @post("/alerts/{alert_id:str}/notes", guards=[analyst], sync_to_thread=True,
          summary="Add a note to an alert (it becomes its `notes`)")
    def add_alert_note(
        self, alert_id: FromPath[str], data: JSONBody[NoteIn], request: Request, store: NamedDependency[Store]
    ) -> Note:
        return write_note(store, request, "alert", alert_id, data.text)

    @get("/compliance/incidents/{incident_id:str}/notes", guards=[viewer], sync_to_thread=True,
         summary="An incident's notes, oldest first, with author and time")
    def incident_notes(self, incident_id: FromPath[str], store: NamedDependency[Store]) -> NoteList:
        return notes_of(store, "incident", incident_id)

    @post("/compliance/incidents/{incident_id:str}/notes", guards=[analyst], sync_to_thread=True,
          summary="Add a note to an incident")
    def add_incident_note(
        self, incident_id: FromPath[str], data: JSONBody[NoteIn], request: Request, store: NamedDependency[Store]
    ) -> Note:
        return write_note(store, request, "incident", incident_id, data.text)
