""""Send a test" for a notification channel or an export destination: sent at once from the API, audited
either way, and a failure answered as 502 with the destination's own reason."""

from __future__ import annotations

import time
from collections.abc import Callable

from litestar import Request

from appliance.api.errors import BadGateway
from appliance.audit.requests import record_request
from appliance.delivery.errors import DeliveryError
from appliance.store.database import Store


def send_trial(store: Store, request: Request, *, action: str, target: str, what: str,
               attempt: Callable[[], object]) -> float:
    """Run `attempt` (which sends); returns how long it took in milliseconds."""
    started = time.perf_counter()
    try:
        attempt()
    except DeliveryError as error:
        record_request(store, request, action=action, target=target, details={"ok": False, "error": str(error)[:300]})
        raise BadGateway(f"the test {what} did not arrive: {error}") from error
    record_request(store, request, action=action, target=target, details={"ok": True})
    return round((time.perf_counter() - started) * 1000, 1)
