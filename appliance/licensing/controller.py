"""GET/PUT /license: the box's license as the admin sees it, and entering a (renewed) key."""

from __future__ import annotations

import msgspec
from litestar import Controller, Request, get, put
from litestar.di import NamedDependency
from litestar.exceptions import ValidationException
from litestar.params import JSONBody

from appliance.api.security import admin, viewer
from appliance.audit.requests import record_request
from appliance.licensing import box_license
from appliance.licensing.keys import LicenseError
from appliance.store.database import Store


class LicenseKeyIn(msgspec.Struct, forbid_unknown_fields=True):
    license_key: str


class LicenseController(Controller):
    path = "/license"
    tags = ["license"]

    @get("/", guards=[viewer], sync_to_thread=True, summary="The installed license, its status and what to do next")
    def show(self, store: NamedDependency[Store]) -> box_license.LicenseView:
        return box_license.view(store, box_license.trusted_keys())

    @put("/", guards=[admin], sync_to_thread=True, summary="Install a license key (verified offline)")
    def install(
        self, data: JSONBody[LicenseKeyIn], request: Request, store: NamedDependency[Store]
    ) -> box_license.LicenseView:
        trusted = box_license.trusted_keys()
        try:
            license, changed = box_license.install(store, data.license_key, trusted)
        except LicenseError as error:
            raise ValidationException(str(error)) from error
        if changed:
            record_request(
                store,
                request,
                action="license.installed",
                target=license.license_id,
                details={"plan": license.plan, "expires_at": license.expires_at, "max_sensors": license.max_sensors},
            )
        return box_license.view(store, trusted)
