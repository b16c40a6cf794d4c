"""The site's settings (networks, business hours, servers the rules must know) and each rule's settings
(enabled, severity, thresholds), as an admin reads and changes them.

They are stored in the engine's settings (settings key "engine", `EngineSettings`), which the running engine
re-reads between batches (`Engine.follow_settings`): a change takes effect without a restart. Every change
is checked before it is stored, the same way the engine will build its rules from it, so a stored setting
can always be applied; and every change is audited with what it was and what it became.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec

from appliance.audit import log as audit
from appliance.engine.detection import RuleConfig, merge_thresholds
from appliance.engine.network import BusinessHours, SiteConfig
from appliance.engine.process import SETTINGS_KEY, EngineSettings, load_settings
from appliance.engine.rules import RULE_MODULES
from appliance.store.database import Store

# The site fields an admin sets; the others (domain lists, threat intel, learning period) come with the box.
SITE_FIELDS = ("internal_networks", "business_hours", "dns_resolvers", "known_dhcp_servers", "allowed_ot_writers",
               "gateway_ips")
RULE_DEFAULT = "rule default"
SET_ON_THIS_BOX = "set on this box"


class SettingsError(ValueError):
    """A setting the engine could not run with; the message names the field."""


class SiteSettings(msgspec.Struct, kw_only=True):
    internal_networks: list[str]
    business_hours: BusinessHours
    dns_resolvers: list[str]
    known_dhcp_servers: list[str]
    allowed_ot_writers: list[str]
    gateway_ips: list[str]


class SiteView(msgspec.Struct, kw_only=True):
    current: SiteSettings
    defaults: SiteSettings  # what a new box starts with


class SiteChange(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    """Only the fields given change."""

    internal_networks: list[str] | None = None
    business_hours: BusinessHours | None = None
    dns_resolvers: list[str] | None = None
    known_dhcp_servers: list[str] | None = None
    allowed_ot_writers: list[str] | None = None
    gateway_ips: list[str] | None = None


class Setting(msgspec.Struct, kw_only=True):
    value: Any
    default: Any
    source: str  # RULE_DEFAULT or SET_ON_THIS_BOX


class ThresholdSetting(Setting, kw_only=True):
    name: str


class RuleSettings(msgspec.Struct, kw_only=True):
    rule_name: str
    description: str
    version: str
    defined_in: str  # where the defaults come from
    enabled: Setting
    severity: Setting
    thresholds: list[ThresholdSetting]


def _site_settings(site: SiteConfig) -> SiteSettings:
    return SiteSettings(**{name: getattr(site, name) for name in SITE_FIELDS})


def site_view(store: Store) -> SiteView:
    return SiteView(current=_site_settings(load_settings(store).site), defaults=_site_settings(SiteConfig()))


def _checked_site(site: SiteConfig, change: SiteChange) -> tuple[SiteConfig, dict]:
    """The site with the change applied, and {field: {"from", "to"}} of what changed. Each field is checked
    on its own first, so an error names the field it is in."""
    given = {name: value for name in SITE_FIELDS if (value := getattr(change, name)) is not None}
    for name, value in given.items():
        try:
            SiteConfig(**{name: value})
        except ValueError as error:
            raise SettingsError(f"{name}: {error}") from None
    before = msgspec.to_builtins(site)
    wanted = msgspec.to_builtins(given)
    try:
        after = msgspec.convert(before | wanted, SiteConfig)
    except msgspec.ValidationError as error:
        raise SettingsError(str(error)) from None
    changed = {name: {"from": before[name], "to": value} for name, value in wanted.items() if before[name] != value}
    return after, changed


def _stored(store: Store, settings: EngineSettings) -> None:
    store.set_setting(SETTINGS_KEY, msgspec.to_builtins(settings))


def change_site(store: Store, change: SiteChange, *, username: str, source_ip: str) -> SiteView:
    with store.write_transaction():
        settings = load_settings(store)
        site, changed = _checked_site(settings.site, change)
        if changed:
            _stored(store, msgspec.structs.replace(settings, site=site))
            audit.record(store, username=username, source_ip=source_ip, action="settings.site_changed",
                         target="site", details=changed)
    return site_view(store)


def _defined_in(name: str) -> str:
    module = RULE_MODULES[name]
    return Path(module.__file__).relative_to(Path(__file__).parents[2]).as_posix()


def _description(name: str) -> str:
    """The first paragraph of the rule's docstring, without the rule's name that opens it."""
    paragraph = (RULE_MODULES[name].__doc__ or "").strip().split("\n\n", 1)[0]
    return " ".join(paragraph.split()).removeprefix(f"{name}: ")


def _rule_settings(name: str, override: RuleConfig | None) -> RuleSettings:
    module = RULE_MODULES[name]
    override = override or RuleConfig()
    defaults = msgspec.structs.asdict(module.DEFAULTS)

    def setting(value, default, is_set: bool) -> Setting:
        return Setting(value=value, default=default, source=SET_ON_THIS_BOX if is_set else RULE_DEFAULT)

    thresholds = [
        ThresholdSetting(name=key, value=override.thresholds.get(key, default), default=default,
                         source=SET_ON_THIS_BOX if key in override.thresholds else RULE_DEFAULT)
        for key, default in defaults.items()
    ]
    return RuleSettings(
        rule_name=name,
        description=_description(name),
        version=module.VERSION,
        defined_in=_defined_in(name),
        enabled=setting(override.enabled, True, not override.enabled),
        severity=setting(override.severity or module.DEFAULT_SEVERITY, module.DEFAULT_SEVERITY,
                         override.severity is not None),
        thresholds=thresholds,
    )


def rules_view(store: Store) -> list[RuleSettings]:
    overrides = load_settings(store).rule_overrides
    return [_rule_settings(name, overrides.get(name)) for name in RULE_MODULES]


def rule_view(store: Store, rule_name: str) -> RuleSettings:
    return _rule_settings(rule_name, load_settings(store).rule_overrides.get(rule_name))


def _checked_rule(rule_name: str, config: RuleConfig) -> RuleConfig:
    """The override as stored: thresholds equal to their default, and a severity equal to the rule's, are
    dropped, so "where it comes from" stays true; unknown thresholds and bad values are refused."""
    module = RULE_MODULES[rule_name]
    try:
        merge_thresholds(rule_name, module.DEFAULTS, config.thresholds)
    except ValueError as error:
        raise SettingsError(f"thresholds: {error}") from None
    defaults = msgspec.structs.asdict(module.DEFAULTS)
    thresholds = {key: value for key, value in config.thresholds.items() if value != defaults[key]}
    severity = None if config.severity == module.DEFAULT_SEVERITY else config.severity
    return RuleConfig(enabled=config.enabled, severity=severity, thresholds=thresholds)


def change_rule(store: Store, rule_name: str, config: RuleConfig | None, *, username: str,
                source_ip: str) -> RuleSettings:
    """Replace the rule's settings on this box (None: back to the rule's defaults)."""
    if rule_name not in RULE_MODULES:
        raise LookupError(rule_name)
    override = _checked_rule(rule_name, config or RuleConfig())
    with store.write_transaction():
        settings = load_settings(store)
        before = settings.rule_overrides.get(rule_name, RuleConfig())
        if override != before:
            overrides = {name: value for name, value in settings.rule_overrides.items() if name != rule_name}
            if override != RuleConfig():
                overrides[rule_name] = override
            _stored(store, msgspec.structs.replace(settings, rule_overrides=overrides))
            audit.record(store, username=username, source_ip=source_ip, action="settings.rule_changed",
                         target=rule_name, details={"from": msgspec.to_builtins(before),
                                                    "to": msgspec.to_builtins(override)})
    return rule_view(store, rule_name)
