"""The audit entry for a change a signed-in user made through the API: who (the token's user) and from where."""

from __future__ import annotations

from litestar import Request

from appliance.api.client_address import client_address
from appliance.audit.log import record
from appliance.store.database import Store


def record_request(
    store: Store, request: Request, action: str, target: str = "", details: dict | None = None
) -> None:
    record(
        store,
        username=request.user.name,
        source_ip=client_address(request),
        action=action,
        target=target,
        details=details,
    )
