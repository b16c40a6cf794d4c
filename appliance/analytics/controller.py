"""GET /analytics/* (the seed's "Analytics" section)."""

from __future__ import annotations

from litestar import Controller, get
from litestar.di import NamedDependency
from litestar.params import Parameter

from appliance.analytics import queries
from appliance.api.security import viewer
from appliance.store.database import Store


class AnalyticsController(Controller):
    path = "/analytics"
    tags = ["analytics"]
    guards = [viewer]

    @get("/summary", sync_to_thread=True, summary="Total alerts, average response time, false-positive rate")
    def summary(self, store: NamedDependency[Store]) -> queries.Summary:
        return queries.summary(store.connection())

    @get("/alerts-over-time", sync_to_thread=True,
         summary="Alerts per UTC day over the last N days, quiet days included")
    def alerts_over_time(
        self, store: NamedDependency[Store], days: int = Parameter(default=30, ge=1, le=366)
    ) -> queries.AlertsOverTime:
        return queries.alerts_over_time(store.connection(), days)

    @get("/alerts-per-hour", sync_to_thread=True,
         summary="Alerts per hour by severity over the last N hours, quiet hours included")
    def alerts_per_hour(
        self, store: NamedDependency[Store], hours: int = Parameter(default=48, ge=1, le=24 * 14)
    ) -> queries.AlertsPerHour:
        return queries.alerts_per_hour(store.connection(), hours)

    @get("/severity-distribution", sync_to_thread=True, summary="Alerts per severity")
    def severity_distribution(self, store: NamedDependency[Store]) -> queries.SeverityDistribution:
        return queries.severity_distribution(store.connection())

    @get("/top-rules", sync_to_thread=True, summary="The rules that raised the most alerts")
    def top_rules(
        self, store: NamedDependency[Store], limit: int = Parameter(default=10, ge=1, le=100)
    ) -> queries.TopRules:
        return queries.top_rules(store.connection(), limit)

    @get("/device-risk", sync_to_thread=True, summary="Devices by risk score, with what drives each score")
    def device_risk(
        self, store: NamedDependency[Store], limit: int = Parameter(default=20, ge=1, le=100)
    ) -> queries.DeviceRiskList:
        return queries.device_risk(store.connection(), limit)
