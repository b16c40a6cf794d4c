"""Offline NIS2 Art.23 and GDPR Art.33 report PDFs, prefilled from the registers, alerts and evidence."""
