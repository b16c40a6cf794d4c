"""NIS2 / GDPR compliance: readiness evidence, the compliance settings, the incident and breach registers,
and the reporting regimes (deadlines as data)."""
