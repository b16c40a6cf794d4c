"""Alerts: what the engine raised and what analysts decided about it."""
