"""The composition root: the Litestar app with every domain's controller (CONTROLLERS), the shared
dependencies and the middleware. Granian calls `from_environment` in each worker (`--factory`)."""

from __future__ import annotations

import json
import os

from litestar import Litestar, Router
from litestar.di import Provide
from litestar.middleware import DefineMiddleware
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from appliance import __version__
from appliance.agents.controller import AgentsController
from appliance.alerts.controller import AlertsController
from appliance.analytics.controller import AnalyticsController
from appliance.api.box import Box
from appliance.api.docs_page import DocsPage
from appliance.api.errors import EXCEPTION_HANDLERS
from appliance.api.openapi import BEARER, DescribedSchema
from appliance.api.security import PUBLIC_PATHS, BearerAuthentication
from appliance.api_tokens.controller import ApiTokensController
from appliance.audit.controller import AuditController
from appliance.audit.log import ChainVerifier
from appliance.auth.controller import AuthController
from appliance.auth.users_controller import UsersController
from appliance.billing.controller import BillingController
from appliance.cloud_sync.background import CloudSyncRunner
from appliance.cloud_sync.controller import CloudSyncController
from appliance.compliance.controller import ComplianceController
from appliance.devices.controller import DevicesController
from appliance.egress.controller import EgressController
from appliance.evidence.flows_controller import FlowsController
from appliance.evidence.legal_hold_controller import LegalHoldController
from appliance.evidence.packets_controller import PacketsController
from appliance.evidence.retention_controller import RetentionController
from appliance.ingest.controller import IngestController
from appliance.ingest.set_aside_controller import SetAsideBatchesController
from appliance.intel.controller import ThreatIntelController
from appliance.licensing.controller import LicenseController
from appliance.metrics.api_requests import ApiMetrics, RequestMetricsMiddleware
from appliance.metrics.controller import metrics_handler
from appliance.notes.controller import NotesController
from appliance.notifications.controller import NotificationsController
from appliance.reports.controller import ReportsController
from appliance.server.rate_limits import DEFAULT_LIMITS, Limit, RateLimiter, RateLimitMiddleware, header_hook
from appliance.server.request_bodies import decode_json_body_strictly
from appliance.server.system import SystemController
from appliance.server.tls import add_strict_transport_security
from appliance.siem.controller import ExportController
from appliance.site_settings.controller import SiteSettingsController
from appliance.store.data_dir import DataDirectory
from appliance.store.database import Store
from appliance.tenant.controller import TenantController
from appliance.tenant.guard import ErasedBoxGuard, ErasureWatch
from appliance.traces.controller import TracesController
from appliance.webui.routes import PUBLIC_PATH_PATTERNS as UI_PUBLIC_PATTERNS
from appliance.webui.routes import assets_path, webui_router
from appliance.whitelist.controller import WhitelistController

API_PREFIX = "/api/v1"
CONTROLLERS = [
    SystemController,
    AuthController,
    UsersController,
    AlertsController,
    WhitelistController,
    NotesController,
    DevicesController,
    SiteSettingsController,
    ThreatIntelController,
    AuditController,
    TracesController,
    FlowsController,
    PacketsController,
    LegalHoldController,
    RetentionController,
    AgentsController,
    IngestController,
    SetAsideBatchesController,
    LicenseController,
    BillingController,
    CloudSyncController,
    AnalyticsController,
    ComplianceController,
    ReportsController,
    TenantController,
    NotificationsController,
    ExportController,
    ApiTokensController,
    EgressController,
]


def create_app(data_dir: DataDirectory, limits: dict[str, Limit] | None = None) -> Litestar:
    box = Box(data_dir)
    limiter = RateLimiter(data_dir.runtime / "ratelimit.sqlite", {**DEFAULT_LIMITS, **(limits or {})})
    cloud_sync = CloudSyncRunner(box, data_dir.runtime / "cloud_sync.lock")
    audit_chain = ChainVerifier()
    api_metrics = ApiMetrics()

    def provide_box() -> Box:
        return box

    def provide_store() -> Store:
        return box.store()

    def provide_audit_chain() -> ChainVerifier:
        return audit_chain

    described = DescribedSchema()
    api = Router(path=API_PREFIX, route_handlers=CONTROLLERS, before_request=decode_json_body_strictly)
    return Litestar(
        route_handlers=[api, webui_router(), metrics_handler(api_metrics)],
        dependencies={
            "box": Provide(provide_box, sync_to_thread=False),
            "store": Provide(provide_store, sync_to_thread=False),
            "audit_chain": Provide(provide_audit_chain, sync_to_thread=False),
        },
        middleware=[
            DefineMiddleware(ErasedBoxGuard, watch=ErasureWatch(box)),  # first: an erased box serves nothing
            DefineMiddleware(RequestMetricsMiddleware, metrics=api_metrics),
            DefineMiddleware(RateLimitMiddleware, limiter=limiter, box=box),
            DefineMiddleware(BearerAuthentication, box=box,
                             exclude=[f"^{path}" for path in PUBLIC_PATHS] + list(UI_PUBLIC_PATTERNS)),
        ],
        exception_handlers=EXCEPTION_HANDLERS,
        before_send=[header_hook(limiter, box), add_strict_transport_security],
        openapi_config=OpenAPIConfig(
            title="NetSenX Appliance API",
            version=__version__,
            path=f"{API_PREFIX}/schema",
            components=Components(
                security_schemes={BEARER: SecurityScheme(
                    type="http", scheme="bearer", bearer_format="JWT, or an API token nsx_pat_...")}
            ),
            render_plugins=[described, DocsPage(described, stylesheet=f"{assets_path()}app.css")],
        ),
        on_startup=[cloud_sync.start],
        on_shutdown=[cloud_sync.stop, box.close, box.seal],
        debug=False,
    )


def limits_from_json(text: str | None) -> dict[str, Limit]:
    """`{"general": [1000, 60]}` overrides a category's requests per window (for benchmarks and labs)."""
    if not text:
        return {}
    return {name: Limit(int(pair[0]), int(pair[1])) for name, pair in json.loads(text).items()}


def from_environment() -> Litestar:
    return create_app(
        DataDirectory.at(os.environ["NETSENX_DATA_DIR"]),
        limits_from_json(os.environ.get("NETSENX_RATE_LIMITS")),
    )
