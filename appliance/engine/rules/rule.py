"""The shape every rule has: settings in, Detections out, driven only by records and packet time.

Rule state is plain data. Besides its configuration (`Rule.CONFIGURATION`: thresholds, site, baseline and the
incident book's settings), whatever a rule keeps in its attributes is the state the engine checkpoints and
restores after a restart, so that the restarted engine takes exactly the decisions an uninterrupted one would
(see saved_state.py). So a rule author keeps to this:
- state holds data only: numbers, strings, tuples, lists, dicts, sets, records, and the containers of
  bounded_state.py or of the rule's own module (classes, not functions). Never a lambda, a bound method, a
  generator, a file, a lock or a compiled regex; derive those from configuration in `__init__` from the
  CONFIGURATION attributes (a pattern built from `self.site` is configuration: name it in CONFIGURATION of
  the subclass). Passing a method or closure to `self.book.update(subject, count, ts, build, *args)` is fine:
  the book turns it into a Detection when packet time advances, before any checkpoint.
- nothing in it may depend on the wall clock, on random numbers (unless seeded and saved) or on the order
  in which a set of strings iterates (that order changes with every process: iterate through sorted()).
- a change to what a rule keeps needs no migration: the engine discards a checkpoint made by other code.
tests/engine_rules/test_saved_state.py saves and restores a RuleSet that lived through the mixed scenario
and checks that it goes on exactly as the original.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from appliance.engine.detection import IncidentBook
from appliance.engine.rules.bounded_state import Window, Windows
from appliance.engine.rules.saved_state import Shared
from sensor.records import Event, Flow

if TYPE_CHECKING:
    from appliance.engine.baseline import Baseline
    from appliance.engine.detection import Detection
    from appliance.engine.network import SiteConfig


class Rule:
    """Base of every rule's detector (a module's `Detector`). It takes NAME, DEFAULT_SEVERITY, VERSION and
    FEATURES from its module's constants; subclasses override the hooks they need, and each hook returns the
    Detections (new incidents or updates) it caused."""

    NAME: ClassVar[str]
    DEFAULT_SEVERITY: ClassVar[str]
    VERSION: ClassVar[str]
    FEATURES: ClassVar[tuple[str, ...]]
    # Attributes that are configuration, not state: never saved, rebuilt from the settings on restart.
    CONFIGURATION: ClassVar[frozenset[str]] = frozenset({"t", "site", "baseline", "book"})

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        module = sys.modules[cls.__module__]
        for name in ("NAME", "DEFAULT_SEVERITY", "VERSION", "FEATURES"):
            setattr(cls, name, getattr(module, name))

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

    def detection(self, incident: str, window: Window, **fields: Any) -> Detection:
        """The Detection of `incident` whose span and evidence flows are `window`'s; `fields` are the rest of
        IncidentBook.detection's (endpoints, evidence, features)."""
        return self.book.detection(
            incident, first_seen=window.start, last_seen=window.last, flow_uids=window.flow_uids, **fields
        )

    def on_flow(self, flow: Flow) -> list[Detection]:
        return []

    def on_event(self, event: Event) -> list[Detection]:
        return []

    def advance(self, now: float) -> list[Detection]:
        """Expire state older than the rule's windows (every `Windows` table it keeps) and idle incidents.
        Rules that decide at window end, or keep other expiring state, override this."""
        for table in vars(self).values():
            if isinstance(table, Windows):
                table.expire(now)
        return self.book.expire(now)

    def saved_state(self, configuration: dict[int, Shared]) -> dict:
        """What a checkpoint keeps of this rule: its state attributes (those referring to an object of
        `configuration`, id -> name, by that name) and its open incidents."""
        return {
            "attributes": {
                name: configuration.get(id(value), value)
                for name, value in vars(self).items()
                if name not in self.CONFIGURATION
            },
            "incidents": self.book.open_incidents(),
        }

    def restore_state(self, saved: dict, configuration: dict[Shared, object]) -> None:
        """Continue from `saved_state()` of a rule of the same class and configuration."""
        expected = set(vars(self)) - self.CONFIGURATION
        if set(saved["attributes"]) != expected:
            raise ValueError(f"{self.NAME}: saved attributes {sorted(saved['attributes'])} are not {sorted(expected)}")
        for name, value in saved["attributes"].items():
            setattr(self, name, configuration[value] if isinstance(value, Shared) else value)
        self.book.restore_incidents(saved["incidents"])
