-- Legal holds (issue 12): an incident under hold keeps all its evidence whatever retention says (its alerts'
-- decision traces, the flow log rows and protocol events of their evidence flows, a sealed copy of their
-- packets) until an admin releases it. Who placed it, when and why is here and, with every release, in the
-- audit log. No foreign key: an incident is never deleted, and a hold must not vanish with a row by accident.
CREATE TABLE legal_holds (
    incident_id TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    placed_by TEXT NOT NULL,
    placed_at REAL NOT NULL
) WITHOUT ROWID;
