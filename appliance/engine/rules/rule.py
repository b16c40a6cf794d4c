"""The shape every rule has: settings in, Detections out, driven only by records and packet time."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import msgspec

from appliance.engine.detection import IncidentBook
from sensor.records import Event, Flow

if TYPE_CHECKING:
    from appliance.engine.baseline import Baseline
    from appliance.engine.detection import Detection
    from appliance.engine.network import SiteConfig


class Rule:
    """Base of every rule's detector. Subclasses set the class attributes from their module constants and
    override the hooks they need; each hook returns the Detections (new incidents or updates) it caused."""

    NAME: ClassVar[str]
    DEFAULT_SEVERITY: ClassVar[str]
    VERSION: ClassVar[str]
    FEATURES: ClassVar[tuple[str, ...]]

    def __init__(
        self,
        thresholds: msgspec.Struct,
        site: SiteConfig,
        baseline: Baseline,
        severity: str | None = None,
    ):
        self.t = thresholds
        self.site = site
        self.baseline = baseline
        self.book = IncidentBook(
            rule_name=self.NAME,
            version=self.VERSION,
            severity=severity or self.DEFAULT_SEVERITY,
            thresholds=thresholds,
            idle_close_s=self.incident_idle_s(),
            max_open=site.max_tracked_keys,
        )

    def incident_idle_s(self) -> float:
        """Packet time without activity after which an incident closes (a later repeat is a new one)."""
        return float(getattr(self.t, "window_s", 3600.0))

    def on_flow(self, flow: Flow) -> list[Detection]:
        return []

    def on_event(self, event: Event) -> list[Detection]:
        return []

    def advance(self, now: float) -> list[Detection]:
        """Expire state older than the rule's windows. Rules that decide at window end override this."""
        return self.book.expire(now)
