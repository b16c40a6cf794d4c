"""GDPR data access: export everything the box holds (Art.15/20), erase everything (Art.17)."""
