"""`appliance settings`: the site's and the rules' settings from the console (same as /api/v1/settings/site and
/api/v1/settings/rules), audited as the console user; a running engine applies them without a restart."""

from __future__ import annotations

import getpass
import json
from typing import TYPE_CHECKING

import msgspec

from appliance.cli.engine_commands import open_store
from appliance.cli.errors import CliError
from appliance.engine.detection import RuleConfig
from appliance.engine.network import BusinessHours
from appliance.store.data_dir import DataDirectory

if TYPE_CHECKING:
    from appliance.site_settings import settings

LIST_OPTIONS = {  # option -> site field, each a list of addresses or CIDRs
    "--internal-networks": "internal_networks",
    "--dns-resolvers": "dns_resolvers",
    "--dhcp-servers": "known_dhcp_servers",
    "--ot-writers": "allowed_ot_writers",
    "--gateways": "gateway_ips",
}


def register(subparsers) -> None:
    parser = subparsers.add_parser("settings", help="show or change the site's and the rules' settings")
    commands = parser.add_subparsers(dest="settings_command", required=True)

    show = commands.add_parser("show", help="print the site's and every rule's settings as JSON")
    show.add_argument("--data-dir", required=True)
    show.set_defaults(run=run_show)

    site = commands.add_parser("site", help="change site settings (only the options given; an empty list: none)")
    site.add_argument("--data-dir", required=True)
    for option, field in LIST_OPTIONS.items():
        site.add_argument(option, dest=field, nargs="*", metavar="ADDRESS")
    site.add_argument("--business-hours", metavar="START-END", help="whole hours, e.g. 8-18 (end exclusive)")
    site.add_argument("--weekdays", metavar="DAYS", help="business days, 0 = Monday, e.g. 0,1,2,3,4")
    site.add_argument("--timezone", metavar="ZONE", help="IANA time zone, e.g. Europe/Berlin")
    site.set_defaults(run=run_site)

    rule = commands.add_parser("rule", help="change one rule's settings on this box")
    rule.add_argument("rule_name", metavar="RULE", help="the rule's name, as `appliance settings show` lists it")
    rule.add_argument("--data-dir", required=True)
    switch = rule.add_mutually_exclusive_group()
    switch.add_argument("--enable", dest="enabled", action="store_const", const=True)
    switch.add_argument("--disable", dest="enabled", action="store_const", const=False)
    rule.add_argument("--severity", help="CRITICAL, HIGH, MEDIUM, LOW, INFO, or 'default'")
    rule.add_argument("--threshold", action="append", default=[], metavar="NAME=VALUE",
                      help="override one threshold ('NAME=default' takes the override away)")
    rule.add_argument("--reset", action="store_true", help="back to the rule's defaults")
    rule.set_defaults(run=run_rule)


def actor() -> dict[str, str]:
    return {"username": f"cli:{getpass.getuser()}", "source_ip": "local"}


def run_show(args) -> int:
    from appliance.site_settings import settings

    store = open_store(DataDirectory.at(args.data_dir))
    shown = {"site": settings.site_view(store), "rules": settings.rules_view(store)}
    print(json.dumps(msgspec.to_builtins(shown), indent=2))
    return 0


def business_hours(args, current: BusinessHours) -> BusinessHours | None:
    if args.business_hours is None and args.weekdays is None and args.timezone is None:
        return None
    changed = msgspec.to_builtins(current)
    try:
        if args.business_hours is not None:
            start, end = args.business_hours.split("-")
            changed.update(start_hour=int(start), end_hour=int(end))
        if args.weekdays is not None:
            changed["weekdays"] = [int(day) for day in args.weekdays.split(",") if day.strip()]
    except ValueError:
        raise CliError("--business-hours is START-END in whole hours (e.g. 8-18), --weekdays like 0,1,2,3,4") from None
    if args.timezone is not None:
        changed["timezone"] = args.timezone
    try:
        return msgspec.convert(changed, BusinessHours)
    except msgspec.ValidationError as error:
        raise CliError(f"business hours: {error}") from None


def run_site(args) -> int:
    from appliance.site_settings import settings

    store = open_store(DataDirectory.at(args.data_dir))
    lists = {field: getattr(args, field) for field in LIST_OPTIONS.values() if getattr(args, field) is not None}
    hours = business_hours(args, settings.site_view(store).current.business_hours)
    if not lists and hours is None:
        raise CliError("nothing to change: give at least one option (see `appliance settings site --help`)")
    try:
        view = settings.change_site(store, settings.SiteChange(business_hours=hours, **lists), **actor())
    except settings.SettingsError as error:
        raise CliError(str(error)) from None
    print(json.dumps(msgspec.to_builtins(view.current), indent=2))
    return 0


def threshold_value(text: str):
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text  # left as text: the rule's type check says what it should be


def wanted_rule(args, current: settings.RuleSettings) -> RuleConfig | None:
    from appliance.site_settings import settings

    if args.reset:
        return None
    thresholds = {item.name: item.value for item in current.thresholds if item.source == settings.SET_ON_THIS_BOX}
    for item in args.threshold:
        name, sep, value = item.partition("=")
        if not sep:
            raise CliError(f"--threshold {item!r}: expected NAME=VALUE")
        if value == "default":
            thresholds.pop(name, None)
        else:
            thresholds[name] = threshold_value(value)
    severity = current.severity.value if current.severity.source == settings.SET_ON_THIS_BOX else None
    if args.severity is not None:
        severity = None if args.severity == "default" else args.severity.upper()
    enabled = current.enabled.value if args.enabled is None else args.enabled
    try:
        return RuleConfig(enabled=enabled, severity=severity, thresholds=thresholds)
    except ValueError as error:
        raise CliError(str(error)) from None


def run_rule(args) -> int:
    from appliance.engine.rules import RULE_MODULES
    from appliance.site_settings import settings

    if args.rule_name not in RULE_MODULES:
        raise CliError(f"no rule {args.rule_name!r}; known rules: {', '.join(sorted(RULE_MODULES))}")
    store = open_store(DataDirectory.at(args.data_dir))
    config = wanted_rule(args, settings.rule_view(store, args.rule_name))
    try:
        view = settings.change_rule(store, args.rule_name, config, **actor())
    except settings.SettingsError as error:
        raise CliError(str(error)) from None
    print(json.dumps(msgspec.to_builtins(view), indent=2))
    return 0
