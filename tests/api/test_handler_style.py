"""One handler style (README, "How it is built"): a route handler that touches the store, the disk or the network
is a plain `def` with `sync_to_thread=True`; the few that run on the event loop are listed here, each with why.

Checked on the app's own route list, so a new handler is checked the day it is added; and on a served box,
where a write waiting for the store's write lock must not hold up the reads the same worker serves."""

from __future__ import annotations

import threading
import time

import httpx
import pytest
from litestar import Litestar, get
from litestar.di import NamedDependency
from litestar.utils.predicates import is_async_callable

from appliance.alerts.repository import insert_alert
from appliance.server.app import create_app
from appliance.store.connection import open_encrypted
from appliance.store.database import Store
from appliance.store.keys import load_key
from tests.conftest import ADMIN_PASSWORD

# Handlers that run on the event loop, and why that blocks nothing. Keep it short: the rule is the thread.
ON_THE_EVENT_LOOP = {
    "appliance.intel.controller.ThreatIntelController.import_file":
        "awaits the uploaded file; the import and its audit record are one call in a worker thread",
    "appliance.webui.routes.webui_router.<locals>.index": "returns the page it rendered at start-up",
}


def qualified_name(handler) -> str:
    return f"{handler.fn.__module__}.{handler.fn.__qualname__}"


def route_handlers(app: Litestar):
    """Ours, not Litestar's own (OPTIONS, the OpenAPI documents drawn from the schema in memory, the UI's
    static assets read with async file I/O)."""
    for route in app.routes:
        yield from (handler for handler in getattr(route, "route_handlers", ())
                    if not handler.fn.__module__.startswith("litestar."))


def runs_on_the_event_loop(handler) -> bool:
    return is_async_callable(handler.fn) or not handler.sync_to_thread


def off_the_rule(app: Litestar) -> list[str]:
    """The handlers that run on the event loop without being listed above."""
    return sorted({qualified_name(handler) for handler in route_handlers(app)
                   if runs_on_the_event_loop(handler) and qualified_name(handler) not in ON_THE_EVENT_LOOP})


def test_every_handler_of_the_app_runs_in_a_worker_thread_or_is_listed_with_its_reason(data_dir):
    app = create_app(data_dir)
    assert off_the_rule(app) == []
    on_the_loop = {qualified_name(handler) for handler in route_handlers(app) if runs_on_the_event_loop(handler)}
    assert on_the_loop == set(ON_THE_EVENT_LOOP)  # no stale entry: the list says what runs on the loop today


def test_an_async_handler_that_queries_the_store_is_caught(data_dir):
    @get("/alert-count")
    async def alert_count(store: NamedDependency[Store]) -> int:
        return store.query_one("SELECT count(*) AS n FROM alerts")["n"]

    @get("/alert-count-inline", sync_to_thread=False)
    def alert_count_inline(store: NamedDependency[Store]) -> int:
        return store.query_one("SELECT count(*) AS n FROM alerts")["n"]

    app = create_app(data_dir)
    app.register(alert_count)
    app.register(alert_count_inline)
    assert off_the_rule(app) == [
        f"{__name__}.test_an_async_handler_that_queries_the_store_is_caught.<locals>.alert_count",
        f"{__name__}.test_an_async_handler_that_queries_the_store_is_caught.<locals>.alert_count_inline",
    ]


@pytest.mark.e2e
def test_reads_answer_while_a_write_waits_for_the_write_lock(serve, store, data_dir):
    alert_id = insert_alert(store.connection(), severity="HIGH", rule_name="PORT_SCAN", source_ip="10.0.0.1",
                            dest_ip="192.0.2.9", port=22, protocol="TCP", score=0.5, timestamp=100,
                            shap_json={"base_value": 0.1, "features": {}})
    server = serve(data_dir, workers=1)  # one worker: a blocked event loop would hold up every request
    with server.client() as client:
        token = client.post("/auth/login", json={"username": "admin", "password": ADMIN_PASSWORD}).json()
        client.headers["Authorization"] = f"Bearer {token['access_token']}"
        engine = open_encrypted(data_dir.database, load_key(data_dir))  # another process's writer, as the engine's
        engine.execute("BEGIN IMMEDIATE")
        answers = {}

        def review() -> None:
            answers["put"] = client.put(f"/alerts/{alert_id}", json={"status": "reviewed"})

        writer = threading.Thread(target=review)
        try:
            writer.start()
            time.sleep(0.5)  # the PUT is in the store's busy wait now (10 s at most)
            try:
                answers["get"] = client.get("/alerts/", timeout=5)  # while the lock is still held
            except httpx.TimeoutException:
                answers["get"] = None
        finally:
            engine.execute("COMMIT")
            writer.join()
            engine.close()
    assert answers["get"] is not None and answers["get"].status_code == 200, "the read waited for the write lock"
    assert answers["put"].status_code == 200 and answers["put"].json()["status"] == "reviewed"
