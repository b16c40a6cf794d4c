"""Long-lived API tokens (`nsx_pat_...`): personal or service, with a role and an expiry, stored hashed."""
