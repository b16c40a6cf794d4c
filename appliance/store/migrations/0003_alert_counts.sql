-- Totals for the alert list without scanning: count(*) over a million encrypted rows costs tens of
-- milliseconds, a sum over at most (rules x severities x statuses) rows costs microseconds.
CREATE TABLE alert_counts (
    severity TEXT NOT NULL,
    status TEXT NOT NULL,
    rule_name TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (severity, status, rule_name)
) WITHOUT ROWID;

INSERT INTO alert_counts (severity, status, rule_name, n)
SELECT severity, status, rule_name, count(*) FROM alerts GROUP BY severity, status, rule_name;

CREATE TRIGGER alert_counts_insert AFTER INSERT ON alerts BEGIN
    INSERT INTO alert_counts (severity, status, rule_name, n) VALUES (new.severity, new.status, new.rule_name, 1)
    ON CONFLICT (severity, status, rule_name) DO UPDATE SET n = n + 1;
END;

CREATE TRIGGER alert_counts_delete AFTER DELETE ON alerts BEGIN
    UPDATE alert_counts SET n = n - 1
    WHERE severity = old.severity AND status = old.status AND rule_name = old.rule_name;
END;

CREATE TRIGGER alert_counts_update AFTER UPDATE OF severity, status, rule_name ON alerts
WHEN old.severity IS NOT new.severity OR old.status IS NOT new.status OR old.rule_name IS NOT new.rule_name
BEGIN
    UPDATE alert_counts SET n = n - 1
    WHERE severity = old.severity AND status = old.status AND rule_name = old.rule_name;
    INSERT INTO alert_counts (severity, status, rule_name, n) VALUES (new.severity, new.status, new.rule_name, 1)
    ON CONFLICT (severity, status, rule_name) DO UPDATE SET n = n + 1;
END;

-- The triage view: open (or reviewed...) alerts of one severity, newest first.
CREATE INDEX alerts_by_status_severity ON alerts (status, severity, timestamp DESC, id);
