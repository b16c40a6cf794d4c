"""The API's own requests and latency, counted across Granian's worker processes.

Each worker is a process of its own and a scrape reaches one of them: prometheus-client's multiprocess mode
(PROMETHEUS_MULTIPROC_DIR, set by `appliance serve` to a directory in the runtime tmpfs, emptied at start)
keeps every worker's counts in files that the scrape sums. Without it (an app in a test), one process counts.
"""

from __future__ import annotations

import os
import time

from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.multiprocess import MultiProcessCollector

from appliance.metrics import MULTIPROCESS_ENV


class ApiMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("netsenx_api_requests", "API requests answered, by route and status",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("netsenx_api_request_duration_seconds", "Time to answer an API request, by route",
                                 ["method", "route"], registry=self.registry)

    def scrape_registry(self) -> CollectorRegistry:
        """A registry with every worker's request metrics (multiprocess) or this process's own."""
        directory = os.environ.get(MULTIPROCESS_ENV)
        if not directory:
            return self.registry
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=directory)
        return registry


class RequestMetricsMiddleware:
    def __init__(self, app: ASGIApp, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 500}

        async def remember_status(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, remember_status)
        finally:
            route = scope.get("path_template") or "unrouted"
            self.metrics.requests.labels(scope["method"], route, str(status["code"])).inc()
            self.metrics.latency.labels(scope["method"], route).observe(time.perf_counter() - started)
