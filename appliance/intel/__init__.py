"""Threat intelligence: indicators an admin imports from files or fetches from feeds, matched by the engine.

- indicators.py: the kinds of indicator and how a value is recognised and normalised
- stix.py, misp.py, plain_lists.py: the file formats (STIX 2.1 bundles, MISP events, CSV / one per line)
- repository.py: sources (feeds and imports) and their indicators in the store
- overrules.py: what overrules a feed (CDN / shared-hosting addresses, the shipped top sites, the site allowlist)
- matching.py: the compiled indicator set the THREAT_INTEL_MATCH rule asks on the hot path
- feeds.py: scheduled fetches (TAXII 2.1 collections, HTTPS lists), run by the notifier service
- controller.py: the /threat-intel API
"""
