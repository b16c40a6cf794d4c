"""GET/PUT /alerts (the seed's "Alerts" section)."""

from __future__ import annotations

from litestar import Controller, Request, get, put
from litestar.di import NamedDependency
from litestar.exceptions import NotFoundException
from litestar.params import FromPath, FromQuery, JSONBody, Parameter

from appliance.alerts import repository
from appliance.alerts.models import AlertDetail, AlertList, AlertStatus, AlertUpdateBody, Severity
from appliance.api.paging import Offset
from appliance.api.security import analyst, viewer
from appliance.audit.requests import record_request
from appliance.notes import history
from appliance.store.database import Store

LAST_SECOND = 253_402_300_799  # 9999-12-31T23:59:59Z: beyond it, no time the store can compare


class AlertsController(Controller):
    path = "/alerts"
    tags = ["alerts"]

    @get("/", guards=[viewer], sync_to_thread=True, summary="List alerts, newest first")
    def list_alerts(
        self,
        store: NamedDependency[Store],
        severity: FromQuery[Severity | None] = None,
        status: FromQuery[AlertStatus | None] = None,
        rule: str | None = Parameter(default=None, max_length=64),
        host: str | None = Parameter(default=None, max_length=64, description="an IP, as source or destination"),
        since: int | None = Parameter(default=None, ge=0, le=LAST_SECOND, description="raised at or after (Unix s)"),
        until: int | None = Parameter(default=None, ge=0, le=LAST_SECOND, description="raised before (Unix s)"),
        limit: int = Parameter(default=30, ge=1, le=100, description="results per page (max 100)"),
        offset: Offset = 0,
    ) -> AlertList:
        alerts, total = repository.list_alerts(
            store.connection(),
            severity=severity.value if severity else None,
            status=status.value if status else None,
            rule=rule,
            host=host,
            since=since,
            until=until,
            limit=limit,
            offset=offset,
        )
        return AlertList(alerts=alerts, total=total)

    @get("/{alert_id:str}", guards=[viewer], sync_to_thread=True, summary="One alert, with its notes")
    def get_alert(self, alert_id: FromPath[str], store: NamedDependency[Store]) -> AlertDetail:
        alert = repository.get_alert(store.connection(), alert_id)
        if alert is None:
            raise NotFoundException(f"no alert {alert_id}")
        return alert

    @put("/{alert_id:str}", guards=[analyst], sync_to_thread=True, summary="Set an alert's status and notes")
    def update_alert(
        self, alert_id: FromPath[str], data: JSONBody[AlertUpdateBody], request: Request, store: NamedDependency[Store]
    ) -> AlertDetail:
        status = data.status.value if data.status else None
        with store.write_transaction() as connection:
            before = repository.get_alert(connection, alert_id)
            if before is None:
                raise NotFoundException(f"no alert {alert_id}")
            repository.update_alert(connection, alert_id, status=status, notes=data.notes)
            if data.notes and data.notes != before.notes:  # kept in the history too, with who wrote it
                history.add(connection, "alert", alert_id, request.user.name, data.notes)
            record_request(
                store,
                request,
                action="alert.updated",
                target=alert_id,
                details={"status": [before.status, status or before.status], "notes_changed": data.notes is not None},
            )
        return repository.get_alert(store.connection(), alert_id)
