-- Threat intelligence (appliance/intel): where indicators come from, the indicators, and the site's allowlist.
-- A source is an import from a file (kind 'file') or a feed fetched on a schedule ('taxii', 'https_list').
CREATE TABLE intel_sources (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,             -- what alerts call it ("feed")
    kind TEXT NOT NULL,                    -- file | taxii | https_list
    format TEXT NOT NULL,                  -- stix | misp | list (taxii feeds: stix)
    url TEXT,                              -- feeds: the list's URL, or the TAXII API root
    collection TEXT,                       -- taxii: the collection id
    interval_seconds REAL,                 -- feeds: how often it is fetched
    ca_cert TEXT,                          -- feeds: PEM of a private CA the server's certificate chains to
    username TEXT,                         -- feeds: HTTP basic auth (TAXII servers, a private MISP)
    secret TEXT,                           -- feeds: its password; never shown, never exported
    enabled INTEGER NOT NULL DEFAULT 1,    -- a disabled source is neither fetched nor matched
    tls_hashes INTEGER NOT NULL DEFAULT 1, -- bare hashes in a list are JA3 / certificate SHA-1 (else files)
    default_confidence INTEGER NOT NULL DEFAULT 50,
    expiry_days REAL,                      -- an indicator without its own expiry stops matching this long after last seen
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    last_attempt_at REAL,
    fetch_requested INTEGER NOT NULL DEFAULT 0,  -- an admin asked for a fetch at the fetcher's next round
    last_success_at REAL,
    last_result TEXT,                      -- ok | error
    last_error TEXT,
    last_refused INTEGER NOT NULL DEFAULT 0,
    last_problems TEXT NOT NULL DEFAULT '[]'  -- JSON list: the first entries the last import refused, in words
);

CREATE TABLE intel_indicators (
    id INTEGER PRIMARY KEY,
    source_id TEXT NOT NULL REFERENCES intel_sources (id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    value TEXT NOT NULL,                   -- normalised (appliance/intel/indicators.py)
    confidence INTEGER NOT NULL,
    domain TEXT,                           -- a name the source gave with an address
    description TEXT NOT NULL DEFAULT '',
    first_seen REAL NOT NULL,
    last_seen REAL NOT NULL,
    expires_at REAL,
    added_at REAL NOT NULL,                -- when this box first had it: a retro-hunt looks back from here
    listed_at REAL NOT NULL,               -- the last import that listed it (a list feed drops what it no longer lists)
    UNIQUE (source_id, kind, value)
);
CREATE INDEX intel_indicators_value ON intel_indicators (value);

-- Bumped by every change that alters what matches: the engine reloads its indicator set when it moves.
CREATE TABLE intel_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    generation INTEGER NOT NULL
);
INSERT INTO intel_generation (id, generation) VALUES (1, 0);

-- The site's own "never an indicator": overrules every feed (a partner's address, the company's own domain).
CREATE TABLE intel_allowlist (
    value TEXT PRIMARY KEY,                -- an address, CIDR or domain (with its subdomains)
    comment TEXT NOT NULL DEFAULT '',
    created_by TEXT NOT NULL,
    created_at REAL NOT NULL
);
