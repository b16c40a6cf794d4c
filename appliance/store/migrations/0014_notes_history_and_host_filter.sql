-- Notes on an alert or an incident as a history: each note kept with its author and time, never overwritten.
CREATE TABLE notes (
    id INTEGER PRIMARY KEY,
    subject TEXT NOT NULL CHECK (subject IN ('alert', 'incident')),
    subject_id TEXT NOT NULL,
    author TEXT NOT NULL,
    written_at REAL NOT NULL,
    text TEXT NOT NULL
);
CREATE INDEX notes_by_subject ON notes (subject, subject_id, id);

-- The one note an alert could hold until now becomes the first of its history; who wrote it was not kept.
INSERT INTO notes (subject, subject_id, author, written_at, text)
SELECT 'alert', id, '(before the notes history)', timestamp, notes FROM alerts WHERE notes != '';

-- The alert list filtered by a host (as source or destination): two index lookups instead of a scan.
CREATE INDEX alerts_by_source ON alerts (source_ip, timestamp DESC, id);
CREATE INDEX alerts_by_dest ON alerts (dest_ip, timestamp DESC, id);
