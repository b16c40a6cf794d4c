-- Threat intelligence, retro-hunts (appliance/intel/retro_hunt.py): when a source brings indicators the box did
-- not have, the engine searches the flow log for the traffic they would have matched and raises those alerts,
-- marked as found later. One hunt per import or feed refresh that added indicators.
CREATE TABLE intel_retro_hunts (
    id INTEGER PRIMARY KEY,
    source_id TEXT NOT NULL REFERENCES intel_sources (id) ON DELETE CASCADE,
    added_at REAL NOT NULL,                -- the import: its new indicators are the source's with this added_at
    indicators INTEGER NOT NULL,           -- how many it brought
    created_at REAL NOT NULL,
    generation INTEGER NOT NULL,           -- intel_generation with its indicators: an engine that loaded it has them
    -- The last flow_log / event_log ids the engine matched without these indicators, set when it took them:
    -- the hunt searches up to there, the live path from there on, so no traffic is matched twice.
    flow_horizon INTEGER,
    event_horizon INTEGER,
    phase TEXT NOT NULL DEFAULT 'indicators',  -- indicators | networks | fingerprints | done
    cursor INTEGER NOT NULL DEFAULT 0,     -- within the phase: the last indicator, flow or event id searched
    found INTEGER NOT NULL DEFAULT 0,      -- alerts raised as found later
    already_alerted INTEGER NOT NULL DEFAULT 0,  -- matches an alert had already raised (live or an earlier hunt)
    finished_at REAL
);
CREATE INDEX intel_retro_hunts_by_source ON intel_retro_hunts (source_id, id);

-- A hunt asks, for each contact it finds, whether an alert already covers that host and indicator: one host's
-- alerts of one rule, not every THREAT_INTEL_MATCH alert (a hunt may find thousands).
CREATE INDEX alerts_by_source_rule ON alerts (source_ip, rule_name, last_seen);
