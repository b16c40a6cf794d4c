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

-- The device inventory: every address the flow log saw, when first and last, and how many flows it started and
-- answered. Kept by a trigger as the engine logs flows, so the inventory page reads a small table instead of
-- grouping the flow log (retention prunes the log; the inventory remembers a device's first sighting).
CREATE TABLE hosts_seen (
    ip TEXT PRIMARY KEY,
    first_seen REAL NOT NULL,   -- packet time
    last_seen REAL NOT NULL,
    flows_started INTEGER NOT NULL DEFAULT 0,
    flows_answered INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE INDEX hosts_seen_by_last_seen ON hosts_seen (last_seen DESC);

INSERT INTO hosts_seen (ip, first_seen, last_seen, flows_started, flows_answered)
SELECT ip, min(ts), max(ts), sum(started), sum(answered) FROM (
    SELECT src_ip AS ip, ts_start AS ts, 1 AS started, 0 AS answered FROM flow_log
    UNION ALL
    SELECT dst_ip, ts_start, 0, 1 FROM flow_log WHERE dst_ip != src_ip
) GROUP BY ip;

CREATE TRIGGER hosts_seen_on_flow AFTER INSERT ON flow_log BEGIN
    INSERT INTO hosts_seen (ip, first_seen, last_seen, flows_started) VALUES (new.src_ip, new.ts_start, new.ts_start, 1)
    ON CONFLICT (ip) DO UPDATE SET first_seen = min(first_seen, excluded.first_seen),
        last_seen = max(last_seen, excluded.last_seen), flows_started = flows_started + 1;
    INSERT INTO hosts_seen (ip, first_seen, last_seen, flows_answered)
    SELECT new.dst_ip, new.ts_start, new.ts_start, 1 WHERE new.dst_ip != new.src_ip
    ON CONFLICT (ip) DO UPDATE SET first_seen = min(first_seen, excluded.first_seen),
        last_seen = max(last_seen, excluded.last_seen), flows_answered = flows_answered + 1;
END;
