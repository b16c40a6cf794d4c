"""The stateful rule layer: every rule, and the RuleSet that feeds records to the enabled ones.

A rule is one module of this package, found here by looking (no list to extend): it declares NAME,
DEFAULT_SEVERITY, VERSION, DEFAULTS (its Thresholds), FEATURES (what its Detections measure, the input of its
scoring model), MORE_IS_WORSE (the features that only grow as an attack goes on: the model is monotone in
them, so a growing incident never loses score for having more), SCENARIO (the simulator scenario that
exercises it, `appliance simulate SCENARIO`) and its `Detector` class.

Pure Python, no I/O: records and packet time in, Detections out. The engine checkpoints `RuleSet.baseline`
(`Baseline.to_bytes`) and the rules' state (`RuleSet.saved_state`, see saved_state.py) and restores both on
restart, so a restart changes no decision.
"""

from __future__ import annotations

import hashlib
import importlib
import pkgutil
from pathlib import Path
from types import ModuleType

import msgspec

from appliance.engine import detection as detection_module
from appliance.engine.baseline import Baseline
from appliance.engine.detection import Detection, RuleConfig, merge_thresholds
from appliance.engine.network import SiteConfig
from appliance.engine.rules import saved_state
from appliance.engine.rules.routines import outside_routine
from appliance.engine.rules.rule import Rule
from appliance.intel.matching import IndicatorSet
from sensor import records
from sensor.records import Event, Flow


def _discover() -> dict[str, ModuleType]:
    """Every module of this package that declares a rule (it has a `Detector`), by rule name, in name order."""
    modules = [importlib.import_module(f"{__name__}.{found.name}") for found in pkgutil.iter_modules(__path__)]
    rules = sorted((module for module in modules if hasattr(module, "Detector")), key=lambda module: module.NAME)
    return {module.NAME: module for module in rules}


RULE_MODULES: dict[str, ModuleType] = _discover()
RULE_NAMES = frozenset(RULE_MODULES)
# the rule that matches threat-intel indicators (its Detector takes the indicator set): retro-hunts run it alone
INTEL_RULE = next(name for name, module in RULE_MODULES.items() if getattr(module.Detector, "USES_INTEL", False))


def rule_catalogue() -> list[dict]:
    """Every rule with its default severity, version, default thresholds and feature names (for the API)."""
    return [
        {
            "rule_name": name,
            "default_severity": module.DEFAULT_SEVERITY,
            "version": module.VERSION,
            "thresholds": msgspec.structs.asdict(module.DEFAULTS),
            "features": list(module.FEATURES),
        }
        for name, module in RULE_MODULES.items()
    ]


class RuleSet:
    """The enabled rules of one site, in one packet-time stream.

    Every record goes to the rules first and to the baseline after, so "never seen before" means before
    this record. What the site's own hosts routinely do (routines.py) is learned, not raised. `advance(now)`
    expires windows; call it as packet time moves (e.g. once per batch).
    """

    def __init__(
        self,
        configs: dict[str, RuleConfig] | None = None,
        site: SiteConfig | None = None,
        baseline: Baseline | None = None,
        intel: IndicatorSet | None = None,
    ):
        configs = configs or {}
        unknown = set(configs) - set(RULE_MODULES)
        if unknown:
            raise ValueError(
                f"unknown rule(s): {', '.join(sorted(unknown))}; known: {', '.join(RULE_MODULES)}"
            )
        self.configs = configs
        self.site = site or SiteConfig()
        self.baseline = baseline or Baseline(self.site)
        self.rules: dict[str, Rule] = {}
        for name in RULE_MODULES:
            rule = self._build(name, intel)
            if rule is not None:
                self.rules[name] = rule

    def _build(self, name: str, intel: IndicatorSet | None) -> Rule | None:
        """The rule `name` as this configuration has it, None when it is disabled."""
        module, config = RULE_MODULES[name], self.configs.get(name, RuleConfig())
        if not config.enabled:
            return None
        thresholds = merge_thresholds(name, module.DEFAULTS, config.thresholds)
        extra = {"intel": intel} if getattr(module.Detector, "USES_INTEL", False) else {}
        return module.Detector(thresholds, self.site, self.baseline, config.severity, **extra)

    def intel_rule(self, intel: IndicatorSet) -> Rule | None:
        """A THREAT_INTEL_MATCH rule of this configuration, apart from the stream, with another indicator set: a
        retro-hunt runs logged records through it (it only reads the baseline). None when the rule is disabled."""
        return self._build(INTEL_RULE, intel)

    def use_intel(self, intel: IndicatorSet) -> None:
        """A new indicator set (a feed or an import changed it): the rules that match indicators take it; their
        state (open contacts and incidents) goes on."""
        for rule in self.rules.values():
            if getattr(rule, "USES_INTEL", False):
                rule.intel = intel

    def on_flow(self, flow: Flow) -> list[Detection]:
        out = [detection for rule in self.rules.values() for detection in rule.on_flow(flow)]
        self.baseline.observe_flow(flow)
        return outside_routine(out, self.baseline)

    def on_event(self, event: Event) -> list[Detection]:
        out = [detection for rule in self.rules.values() for detection in rule.on_event(event)]
        self.baseline.observe_event(event)
        return outside_routine(out, self.baseline)

    def advance(self, now: float) -> list[Detection]:
        self.baseline.advance(now)
        return outside_routine([detection for rule in self.rules.values() for detection in rule.advance(now)],
                               self.baseline)

    # --- checkpoints -----------------------------------------------------------------------------------------
    def fingerprint(self) -> str:
        """What a saved state is valid for: the rule layer's code (every rule's VERSION and every source file
        of the package, of detection.py and of the record contract, whose classes a saved state holds, so any
        change to a class's shape counts) and this configuration."""
        digest = hashlib.sha256(saved_state.FORMAT.encode())
        for name, module in RULE_MODULES.items():
            digest.update(f"{name} {module.VERSION}\n".encode())
        sources = [*sorted(Path(__file__).parent.glob("*.py")), Path(detection_module.__file__), Path(records.__file__)]
        for source in sources:
            digest.update(source.name.encode() + b"\0" + source.read_bytes())
        configuration = {"rules": self.configs, "site": self.site}
        digest.update(msgspec.json.encode(configuration, order="sorted"))
        return digest.hexdigest()

    def saved_state(self) -> bytes:
        """Every enabled rule's state, as bytes for a checkpoint (call it between batches: after `advance`)."""
        configuration = {id(value): name for name, value in self._configuration().items()}
        return saved_state.dump({name: rule.saved_state(configuration) for name, rule in self.rules.items()})

    def restore_state(self, data: bytes) -> None:
        """Continue from `saved_state()` bytes of a RuleSet with the same fingerprint. Raises StateError."""
        state = saved_state.load(data)
        if not isinstance(state, dict) or set(state) != set(self.rules):
            raise saved_state.StateError("the saved state is not of this rule set's rules")
        configuration = self._configuration()
        try:
            for name, rule in self.rules.items():
                rule.restore_state(state[name], configuration)
        except (ValueError, KeyError, TypeError) as error:
            raise saved_state.StateError(f"the saved state does not fit the rules: {error!r}") from None

    def _configuration(self) -> dict[saved_state.Shared, object]:
        """The objects a rule's attributes may refer to but a checkpoint never holds, by name."""
        named = {saved_state.Shared(("site",)): self.site, saved_state.Shared(("baseline",)): self.baseline}
        for field in (*self.site.__struct_fields__, *vars(self.site)):
            value = getattr(self.site, field)
            if not isinstance(value, str | int | float | bool | None):
                named[saved_state.Shared(("site", field))] = value
        for name, rule in self.rules.items():
            named[saved_state.Shared(("thresholds", name))] = rule.t
        return named
