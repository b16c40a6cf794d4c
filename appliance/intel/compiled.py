"""The engine's indicator set: every enabled source's indicators and the engine settings' own list, compiled
with the overrules of the moment (matching.py, overrules.py)."""

from __future__ import annotations

import logging
import time

from appliance.engine.network import SiteConfig
from appliance.intel import repository
from appliance.intel.matching import IndicatorSet, Listing
from appliance.intel.overrules import Overrules
from appliance.store.database import Store

log = logging.getLogger("netsenx.intel")


def overrules(store: Store) -> Overrules:
    return Overrules([entry.value for entry in repository.allowlist(store)])


def load(store: Store, site: SiteConfig) -> IndicatorSet:
    started = time.perf_counter()
    indicators = IndicatorSet.from_rows(repository.matchable(store), overrules(store))
    legacy = site.threat_intel
    if legacy:
        for kind, value in IndicatorSet.site_list_entries(legacy):
            indicators.add(kind, value, Listing(legacy.source, 50, None, None))
    log.info("indicator set: %s loaded, %s held back, in %.1f s", dict(indicators.loaded),
             dict(indicators.held_back), time.perf_counter() - started)
    return indicators
