"""/compliance: NIS2 readiness, the compliance settings, and the incident and breach registers."""

from __future__ import annotations

from litestar import Controller, Request, get, post, put
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.params import FromPath, JSONBody, Parameter

from appliance.api.paging import Offset
from appliance.api.security import admin, analyst, viewer
from appliance.audit.requests import record_request
from appliance.compliance import breaches, incidents, settings
from appliance.compliance.breaches import Breach, BreachIn, BreachList, BreachUpdate
from appliance.compliance.incidents import (
    Incident,
    IncidentIn,
    IncidentList,
    IncidentUpdate,
    InvalidRecord,
    UnknownRecord,
)
from appliance.compliance.readiness import ReadinessStatus, readiness
from appliance.compliance.regimes import Regime, RegimeDataError, load_regime
from appliance.compliance.settings import ComplianceSettings, InvalidSettings, SettingsUpdate
from appliance.store.database import Store


def regime_for(store: Store, name: str) -> Regime:
    """The regime with the entity's member-state overrides; a broken local rules file is the operator's to fix."""
    try:
        return load_regime(name, store.data_dir.root, settings.load(store).member_state)
    except RegimeDataError as error:
        raise HTTPException(status_code=500, detail=f"compliance rules data is invalid: {error}") from error


class ComplianceController(Controller):
    path = "/compliance"
    tags = ["compliance"]

    @get("/status", guards=[viewer], sync_to_thread=True,
         summary="NIS2 Art.21 readiness: 8 checks with evidence and a score")
    def status(self, store: NamedDependency[Store]) -> ReadinessStatus:
        return readiness(store, settings.load(store))

    @get("/settings", guards=[viewer], sync_to_thread=True, summary="The entity and its reporting contacts")
    def get_settings(self, store: NamedDependency[Store]) -> ComplianceSettings:
        return settings.load(store)

    @put("/settings", guards=[admin], sync_to_thread=True,
         summary="Change the entity and contact details (only the fields given)")
    def put_settings(
        self, data: JSONBody[SettingsUpdate], request: Request, store: NamedDependency[Store]
    ) -> ComplianceSettings:
        try:
            changes = settings.validated_changes(data, load_regime("nis2", store.data_dir.root))
        except InvalidSettings as error:
            raise ValidationException(str(error)) from error
        with store.write_transaction():
            saved = settings.save(store, changes)
            record_request(store, request, "compliance.settings_updated", "compliance", {"fields": sorted(changes)})
        return saved

    @get("/incidents", guards=[viewer], sync_to_thread=True, summary="The incident register, newest awareness first")
    def list_incidents(
        self,
        store: NamedDependency[Store],
        limit: int = Parameter(default=30, ge=1, le=100),
        offset: Offset = 0,
    ) -> IncidentList:
        return incidents.list_page(store, regime_for(store, "nis2"), limit, offset)

    @post(
        "/incidents", guards=[analyst], sync_to_thread=True, raises=[NotFoundException],
        summary="Open an incident from one or more alerts"
    )
    def create_incident(
        self, data: JSONBody[IncidentIn], request: Request, store: NamedDependency[Store]
    ) -> Incident:
        try:
            incident_id = incidents.create(store, data, request.user.name)
        except UnknownRecord as error:
            raise NotFoundException(str(error)) from error
        except InvalidRecord as error:
            raise ValidationException(str(error)) from error
        record_request(store, request, "incident.created", incident_id, {"alerts": len(data.alert_ids)})
        return incidents.get(store, incident_id, regime_for(store, "nis2"))

    @get("/incidents/{incident_id:str}", guards=[viewer], sync_to_thread=True,
         summary="One incident with its NIS2 deadlines")
    def get_incident(self, incident_id: FromPath[str], store: NamedDependency[Store]) -> Incident:
        incident = incidents.get(store, incident_id, regime_for(store, "nis2"))
        if incident is None:
            raise NotFoundException(f"no incident {incident_id}")
        return incident

    @put(
        "/incidents/{incident_id:str}",
        sync_to_thread=True,
        guards=[analyst],
        summary="Update an incident: status, awareness time, assessment, submitted reports, more alerts",
    )
    def update_incident(
        self,
        incident_id: FromPath[str],
        data: JSONBody[IncidentUpdate],
        request: Request,
        store: NamedDependency[Store],
    ) -> Incident:
        regime = regime_for(store, "nis2")
        try:
            changes = incidents.update(store, incident_id, data, regime)
        except KeyError:
            raise NotFoundException(f"no incident {incident_id}") from None
        except UnknownRecord as error:
            raise NotFoundException(str(error)) from error
        except InvalidRecord as error:
            raise ValidationException(str(error)) from error
        record_request(store, request, "incident.updated", incident_id, {"fields": sorted(changes)})
        return incidents.get(store, incident_id, regime)

    @get("/breaches", guards=[viewer], sync_to_thread=True, summary="The GDPR Art.33(5) breach register")
    def list_breaches(
        self,
        store: NamedDependency[Store],
        limit: int = Parameter(default=30, ge=1, le=100),
        offset: Offset = 0,
    ) -> BreachList:
        return breaches.list_page(store, regime_for(store, "gdpr"), limit, offset)

    @post(
        "/breaches",
        sync_to_thread=True,
        guards=[analyst],
        raises=[NotFoundException],
        summary="Record a personal-data breach, notified or not",
    )
    def create_breach(self, data: JSONBody[BreachIn], request: Request, store: NamedDependency[Store]) -> Breach:
        try:
            breach_id = breaches.create(store, data, request.user.name)
        except UnknownRecord as error:
            raise NotFoundException(str(error)) from error
        except InvalidRecord as error:
            raise ValidationException(str(error)) from error
        record_request(store, request, "breach.recorded", breach_id, {"notified": data.notified})
        return breaches.get(store, breach_id, regime_for(store, "gdpr"))

    @get("/breaches/{breach_id:str}", guards=[viewer], sync_to_thread=True, summary="One breach register entry")
    def get_breach(self, breach_id: FromPath[str], store: NamedDependency[Store]) -> Breach:
        breach = breaches.get(store, breach_id, regime_for(store, "gdpr"))
        if breach is None:
            raise NotFoundException(f"no breach {breach_id}")
        return breach

    @put("/breaches/{breach_id:str}", guards=[analyst], sync_to_thread=True, summary="Update a breach register entry")
    def update_breach(
        self, breach_id: FromPath[str], data: JSONBody[BreachUpdate], request: Request, store: NamedDependency[Store]
    ) -> Breach:
        try:
            changed = breaches.update(store, breach_id, data)
        except KeyError:
            raise NotFoundException(f"no breach {breach_id}") from None
        except UnknownRecord as error:
            raise NotFoundException(str(error)) from error
        except InvalidRecord as error:
            raise ValidationException(str(error)) from error
        record_request(store, request, "breach.updated", breach_id, {"fields": changed})
        return breaches.get(store, breach_id, regime_for(store, "gdpr"))
