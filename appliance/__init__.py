"""NetSenX on-prem appliance: API, engine, store, reports, licensing, web UI, CLI."""

__version__ = "0.1.0"
