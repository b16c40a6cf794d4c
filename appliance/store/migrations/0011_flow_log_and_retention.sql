-- Evidence (issue 12): the flow log and retention.
-- The flow log: every flow record and protocol event the engine received, searchable by address, port,
-- protocol, service, name and time (appliance/evidence/flow_log.py). Written by the engine in the
-- transaction of the batch that carried them.
CREATE TABLE flow_log (
    id INTEGER PRIMARY KEY,
    batch_id INTEGER NOT NULL,          -- ingest_batches.id
    agent_id TEXT NOT NULL,             -- the sensor
    uid TEXT NOT NULL,                  -- the sensor's flow id (unique within one sensor run)
    ts_start REAL NOT NULL,             -- packet time
    ts_end REAL NOT NULL,
    proto TEXT NOT NULL,                -- TCP, UDP, ICMP, ...
    service TEXT NOT NULL,              -- application protocol ('' when unknown)
    src_ip TEXT NOT NULL,               -- the side that sent the first packet
    src_port INTEGER NOT NULL,
    dst_ip TEXT NOT NULL,
    dst_port INTEGER NOT NULL,
    pkts_orig INTEGER NOT NULL,
    pkts_resp INTEGER NOT NULL,
    bytes_orig INTEGER NOT NULL,
    bytes_resp INTEGER NOT NULL,
    conn_state TEXT NOT NULL,
    end_reason TEXT NOT NULL
);
CREATE INDEX flow_log_by_time ON flow_log (ts_start);
CREATE INDEX flow_log_by_port ON flow_log (dst_port, ts_start);

-- One row per address of a flow (both sides; one when both are the same), in (address, time) order: a search by
-- address walks one index range newest first and stops at the page it needs, however busy the address
-- (tests/benchmarks/bench_flow_log.py compares it with an index per side).
CREATE TABLE flow_log_addresses (
    ip TEXT NOT NULL,
    ts_start REAL NOT NULL,
    flow_id INTEGER NOT NULL,
    PRIMARY KEY (ip, ts_start, flow_id)
) WITHOUT ROWID;

CREATE TABLE event_log (
    id INTEGER PRIMARY KEY,
    batch_id INTEGER NOT NULL,
    agent_id TEXT NOT NULL,
    ts REAL NOT NULL,
    kind TEXT NOT NULL,                 -- dns, tls_client_hello, http_request, kerberos, ... (sensor/records.py)
    proto TEXT NOT NULL,
    src_ip TEXT NOT NULL,
    src_port INTEGER NOT NULL,
    dst_ip TEXT NOT NULL,
    dst_port INTEGER NOT NULL,
    flow_uid TEXT NOT NULL,
    name TEXT NOT NULL,                 -- what the event names, lower case: DNS query, TLS SNI, HTTP host, ...
    name_reversed TEXT NOT NULL,        -- name backwards: a domain and its subdomains are one index range
    detail TEXT NOT NULL                -- the whole event as JSON (fields at their defaults left out)
);
CREATE INDEX event_log_by_time ON event_log (ts);
CREATE INDEX event_log_by_src ON event_log (src_ip, ts);
CREATE INDEX event_log_by_dst ON event_log (dst_ip, ts);
CREATE INDEX event_log_by_name ON event_log (name_reversed) WHERE name_reversed != '';

-- Retention (appliance/evidence/retention.py): old entries of a hash chain go oldest first, and each pruning
-- leaves an anchor, the hash of the last entry removed, which the first entry kept links to: the chain stays
-- verifiable from the anchor on. Anchors are never changed or removed.
CREATE TABLE chain_anchors (
    chain TEXT NOT NULL CHECK (chain IN ('audit_log', 'decision_traces')),
    through_id INTEGER NOT NULL,        -- the last entry removed: audit_log.id or decision_traces.seq
    hash TEXT NOT NULL,                 -- that entry's chain hash
    pruned INTEGER NOT NULL,            -- entries this pruning removed
    created_at REAL NOT NULL,
    PRIMARY KEY (chain, through_id)
) WITHOUT ROWID;

CREATE TRIGGER chain_anchors_append_only_update BEFORE UPDATE ON chain_anchors
BEGIN
    SELECT RAISE(ABORT, 'chain anchors are append-only');
END;

CREATE TRIGGER chain_anchors_append_only_delete BEFORE DELETE ON chain_anchors
BEGIN
    SELECT RAISE(ABORT, 'chain anchors are append-only');
END;

-- The audit log still only grows, except at its old end: an entry an anchor covers may be removed.
DROP TRIGGER audit_log_append_only_delete;
CREATE TRIGGER audit_log_append_only_delete BEFORE DELETE ON audit_log
WHEN OLD.id > (SELECT coalesce(max(through_id), 0) FROM chain_anchors WHERE chain = 'audit_log')
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only: only entries a retention anchor covers may be removed');
END;
