"""Legal deadlines, contents, thresholds and recipients as data (nis2.json, gdpr.json), read by
`appliance.compliance.regimes`. National rules differ and the EU may change them: edit the data, not code."""
