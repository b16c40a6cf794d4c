"""GET /tenant/export and DELETE /tenant (the seed's "GDPR Data Access").

Neither is gated by the license: a customer whose license lapsed keeps the right to their data and to have
it erased. The export's 1-per-hour limit is the rate limiter's "export" category.
"""

from __future__ import annotations

import logging
import time
from typing import Literal, get_args

import msgspec
from litestar import Controller, Request, delete, get
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, ValidationException
from litestar.params import JSONBody
from litestar.response import Stream

from appliance.api.box import Box
from appliance.api.client_address import client_address
from appliance.api.errors import detail_response
from appliance.api.security import admin
from appliance.audit.requests import record_request
from appliance.store import keys
from appliance.store.connection import open_encrypted
from appliance.store.database import Store
from appliance.tenant.erasure import ERASED_DETAIL, ErasureReceipt, NothingToErase, erase
from appliance.tenant.export import TenantExport

Confirmation = Literal["DELETE ALL DATA"]
(CONFIRMATION,) = get_args(Confirmation)
CONFIRMATION_HINT = f'to erase everything irreversibly, send the JSON body {{"confirm": "{CONFIRMATION}"}}'

logger = logging.getLogger("netsenx.tenant")


class ErasureConfirmation(msgspec.Struct):
    confirm: Confirmation



def confirmation_required(request: Request, exception: Exception):
    return detail_response(400, CONFIRMATION_HINT)


class TenantController(Controller):
    path = "/tenant"
    tags = ["gdpr"]

    @get(
        "/export",
        guards=[admin],
        sync_to_thread=True,
        media_type="application/zip",
        summary="ZIP of all the box's data as JSON, with a manifest of checksums (1 per hour)",
    )
    def export(self, request: Request, store: NamedDependency[Store], box: NamedDependency[Box]) -> Stream:
        exported_at = time.time()
        # Recorded before the snapshot is taken, so the export carries its own audit entry.
        record_request(store, request, action="tenant.exported")
        snapshot = open_encrypted(box.data_dir.database, keys.load_key(box.data_dir), readonly=True)
        filename = time.strftime("netsenx-export-%Y%m%dT%H%M%SZ.zip", time.gmtime(exported_at))
        return Stream(
            TenantExport(snapshot, exported_at),
            media_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="{filename}"', "Cache-Control": "no-store"},
        )

    @delete(
        "/",
        guards=[admin],
        sync_to_thread=True,
        status_code=200,
        exception_handlers={ValidationException: confirmation_required},
        summary=f'Erase all data irreversibly; body {{"confirm": "{CONFIRMATION}"}}',
    )
    def erase_everything(
        self, data: JSONBody[ErasureConfirmation], request: Request, box: NamedDependency[Box]
    ) -> ErasureReceipt:
        # The audit log is about to be erased with everything else; the service log keeps who did it.
        logger.warning("erasing the box at the request of %s from %s", request.user.name, client_address(request))
        box.close()
        try:
            return erase(box.data_dir)
        except NothingToErase as error:  # another worker's erasure got there first
            raise HTTPException(status_code=410, detail=ERASED_DETAIL) from error
