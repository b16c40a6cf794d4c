"""PUT /compliance/incidents/{id}/legal-hold: place or release a legal hold (admin; who, when and why audited)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Controller, Request, put
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, JSONBody

from appliance.api.security import admin
from appliance.audit.requests import record_request
from appliance.compliance import incidents
from appliance.compliance.controller import regime_for
from appliance.compliance.incidents import Incident
from appliance.evidence import legal_hold
from appliance.store.database import Store


class LegalHoldChange(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    held: bool
    reason: Annotated[str, msgspec.Meta(min_length=1, max_length=1000, pattern=r"\S",
                                        description="why the hold is placed or released (kept in the audit log)")]


class LegalHoldController(Controller):
    path = "/compliance/incidents/{incident_id:str}/legal-hold"
    tags = ["compliance"]

    @put("/", guards=[admin], sync_to_thread=True, raises=[NotFoundException],
         summary="Place or release a legal hold: the incident's evidence (traces, flows, packets) outlives retention")
    def change_hold(self, incident_id: FromPath[str], data: JSONBody[LegalHoldChange], request: Request,
                    store: NamedDependency[Store]) -> Incident:
        regime = regime_for(store, "nis2")
        if incidents.get(store, incident_id, regime) is None:
            raise NotFoundException(f"no incident {incident_id}")
        reason = data.reason.strip()
        if data.held:
            _, preserved = legal_hold.place(store, incident_id, reason, request.user.name)
            details = {"reason": reason, "packets_preserved": preserved.packets if preserved else 0}
            if preserved and preserved.packets:
                details["packets_sha256"] = preserved.sha256
            record_request(store, request, "incident.legal_hold_placed", incident_id, details)
        else:
            released = legal_hold.release(store, incident_id)
            record_request(store, request, "incident.legal_hold_released", incident_id,
                           {"reason": reason, "was_held": released is not None})
        return incidents.get(store, incident_id, regime)
