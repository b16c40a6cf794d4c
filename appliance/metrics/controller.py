"""GET /metrics: the Prometheus text format, behind the same bearer tokens as the API (an API token with the
viewer role is what a Prometheus server uses: `authorization: {credentials_file: ...}` in its scrape job)."""

from __future__ import annotations

from litestar import Response, get
from litestar.di import NamedDependency
from prometheus_client import generate_latest
from prometheus_client.registry import CollectorRegistry

from appliance.api.security import viewer
from appliance.metrics.api_requests import ApiMetrics
from appliance.metrics.store_collector import StoreCollector
from appliance.store.database import Store

PATH = "/metrics"
# The classic text format, which every Prometheus reads (Litestar adds "; charset=utf-8").
TEXT_FORMAT = "text/plain; version=0.0.4"


def metrics_handler(api_metrics: ApiMetrics):
    @get(PATH, guards=[viewer], sync_to_thread=True, media_type=TEXT_FORMAT, tags=["metrics"],
         summary="Prometheus metrics: sensors, queue, engine lag, alerts, API, outbox, export, licence, disk")
    def metrics(store: NamedDependency[Store]) -> Response[bytes]:
        registry = CollectorRegistry()
        registry.register(StoreCollector(store))
        text = generate_latest(registry) + generate_latest(api_metrics.scrape_registry())
        return Response(text, media_type=TEXT_FORMAT)

    return metrics
