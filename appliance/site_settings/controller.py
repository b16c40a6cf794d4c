"""/settings/site, /settings/baseline and /settings/rules: what the engine knows about the site, what it learned,
and each rule's settings.

Everyone signed in reads them (the time zone and business hours shape every page); only admins change them.
"""

from __future__ import annotations

import msgspec
from litestar import Controller, Request, delete, get, put
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException, ValidationException
from litestar.params import FromPath, JSONBody

from appliance.api.client_address import client_address
from appliance.api.errors import Conflict
from appliance.api.security import admin, viewer
from appliance.engine.baseline import BaselineSummary
from appliance.engine.baseline import summary as baseline_summary
from appliance.engine.detection import RuleConfig
from appliance.engine.rules import RULE_MODULES
from appliance.site_settings import settings
from appliance.site_settings.settings import RuleSettings, SiteChange, SiteView
from appliance.store.database import Store


class RuleSettingsList(msgspec.Struct):
    rules: list[RuleSettings]
    total: int


def known_rule(rule_name: str) -> str:
    if rule_name not in RULE_MODULES:
        raise NotFoundException(f"no rule {rule_name!r}; known rules: {', '.join(sorted(RULE_MODULES))}")
    return rule_name


class SiteSettingsController(Controller):
    path = "/settings"
    tags = ["settings"]

    @get("/site", guards=[viewer], sync_to_thread=True, summary="The site's settings, with their defaults")
    def site(self, store: NamedDependency[Store]) -> SiteView:
        return settings.site_view(store)

    @put("/site", guards=[admin], sync_to_thread=True, raises=[ValidationException],
         summary="Change site settings (only the fields given)")
    def change_site(self, data: JSONBody[SiteChange], request: Request, store: NamedDependency[Store]) -> SiteView:
        try:
            return settings.change_site(store, data, username=request.user.name, source_ip=client_address(request))
        except settings.SettingsError as error:
            raise ValidationException(str(error)) from error

    @get("/baseline", guards=[viewer], sync_to_thread=True, raises=[Conflict],
         summary="The learned baseline: whether the box still learns, and the site's routines it will not alert on")
    def baseline(self, store: NamedDependency[Store]) -> BaselineSummary:
        row = store.query_one("SELECT value FROM engine_state WHERE key = 'baseline'")
        try:
            return baseline_summary(row["value"] if row else None)
        except ValueError as error:
            raise Conflict(f"{error}; the engine sets it aside and learns again") from error

    @get("/rules", guards=[viewer], sync_to_thread=True,
         summary="Every rule's settings: value, default and where the value comes from")
    def rules(self, store: NamedDependency[Store]) -> RuleSettingsList:
        found = settings.rules_view(store)
        return RuleSettingsList(rules=found, total=len(found))

    @put("/rules/{rule_name:str}", guards=[admin], sync_to_thread=True, raises=[ValidationException, NotFoundException],
         summary="Set a rule's settings on this box (enabled, severity, threshold overrides)")
    def change_rule(self, rule_name: FromPath[str], data: JSONBody[RuleConfig], request: Request,
                    store: NamedDependency[Store]) -> RuleSettings:
        return self._change(store, request, known_rule(rule_name), data)

    @delete("/rules/{rule_name:str}", guards=[admin], status_code=200, sync_to_thread=True,
            raises=[NotFoundException],
            summary="Put a rule back to its defaults")
    def reset_rule(self, rule_name: FromPath[str], request: Request, store: NamedDependency[Store]) -> RuleSettings:
        return self._change(store, request, known_rule(rule_name), None)

    @staticmethod
    def _change(store: Store, request: Request, rule_name: str, config: RuleConfig | None) -> RuleSettings:
        try:
            return settings.change_rule(store, rule_name, config, username=request.user.name,
                                        source_ip=client_address(request))
        except settings.SettingsError as error:
            raise ValidationException(str(error)) from error
