-- The audit log only grows. Editing or deleting an entry now means dropping these guards first, which changes
-- the schema version: the audit-log page then re-verifies the whole hash chain (appliance/audit/log.py), and
-- the chain still shows where the entry was changed.
CREATE TRIGGER audit_log_append_only_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;

CREATE TRIGGER audit_log_append_only_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'the audit log is append-only');
END;
