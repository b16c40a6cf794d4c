"""Sensors ("agents" in the seed API): license key for a token, heartbeat, config, version and ingest."""
