"""The audit log: who did what, when, from where; hash-chained so tampering shows."""
