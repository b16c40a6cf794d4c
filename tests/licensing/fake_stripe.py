"""A small Stripe look-alike on loopback, for the licensing service's tests.

It answers the official SDK's requests the way api.stripe.com does for the calls the service makes:
form-encoded bodies in, Stripe-shaped JSON objects out (each with its ``"object"`` field), errors as
``{"error": {"type", "message", "code"}}`` with Stripe's status codes, and the API key checked. It also
plays Stripe's side after the customer pays (`complete_checkout`, `change_plan`, `cancel`) and builds
signed webhook events the way Stripe does (``Stripe-Signature: t=…,v1=HMAC-SHA256``).
"""

import hashlib
import hmac
import itertools
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qsl, urlsplit

PLANS = ("starter", "professional", "enterprise")
INTERVALS = {"monthly": "month", "annual": "year"}
API_KEY = "sk_test_fake_licensing"
WEBHOOK_SECRET = "whsec_test_fake_licensing"


def stripe_error(status: int, type_: str, message: str, code: str | None = None) -> tuple[int, dict]:
    return status, {"error": {"type": type_, "message": message, "code": code}}


class FakeStripe:
    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.customers: dict[str, dict] = {}
        self.sessions: dict[str, dict] = {}
        self.subscriptions: dict[str, dict] = {}
        self.prices: dict[str, dict] = {}
        self._session_prices: dict[str, str] = {}
        for plan in PLANS:
            for cycle, interval in INTERVALS.items():
                price_id = self._new_id("price")
                self.prices[price_id] = {
                    "id": price_id,
                    "object": "price",
                    "active": True,
                    "currency": "eur",
                    "lookup_key": f"netsenx_{plan}_{cycle}",
                    "product": f"prod_netsenx_{plan}",
                    "recurring": {"interval": interval, "interval_count": 1},
                    "unit_amount": 9900,
                }
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.failure: tuple[int, dict] | None = None
        """When set, every request gets this (status, error body): the switch to make Stripe fail."""
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    # --- Stripe's side of the story -------------------------------------------------------------------

    def complete_checkout(self, session_id: str, now: int, period_days: int) -> tuple[dict, dict, dict]:
        """The customer paid: returns the completed session, the new subscription and its paid invoice."""
        session = self.sessions[session_id]
        subscription_id = self._new_id("sub")
        subscription = {
            "id": subscription_id,
            "object": "subscription",
            "customer": session["customer"],
            "status": "active",
            "cancel_at_period_end": False,
            "ended_at": None,
            "metadata": session["metadata"],
            "items": {"object": "list", "has_more": False, "data": []},
        }
        self.subscriptions[subscription_id] = subscription
        self._set_item(subscription, self._session_prices[session_id], now, now + period_days * 86_400)
        session.update(status="complete", payment_status="paid", subscription=subscription_id)
        return dict(session), subscription, self.invoice_for(subscription_id)

    def invoice_for(self, subscription_id: str) -> dict:
        subscription = self.subscriptions[subscription_id]
        item = subscription["items"]["data"][0]
        return {
            "id": self._new_id("in"),
            "object": "invoice",
            "customer": subscription["customer"],
            "status": "paid",
            "parent": {
                "type": "subscription_details",
                "subscription_details": {
                    "subscription": subscription_id,
                    "metadata": subscription["metadata"],
                },
            },
            "lines": {
                "object": "list",
                "data": [
                    {
                        "id": self._new_id("il"),
                        "object": "line_item",
                        "period": {"start": item["current_period_start"], "end": item["current_period_end"]},
                    }
                ],
            },
        }

    def renew(self, subscription_id: str, period_days: int) -> dict:
        """The next period starts and is paid: returns the invoice."""
        subscription = self.subscriptions[subscription_id]
        item = subscription["items"]["data"][0]
        start = item["current_period_end"]
        self._set_item(subscription, item["price"]["id"], start, start + period_days * 86_400)
        return self.invoice_for(subscription_id)

    def change_plan(self, subscription_id: str, plan: str, cycle: str) -> dict:
        subscription = self.subscriptions[subscription_id]
        item = subscription["items"]["data"][0]
        price_id = self._price_id(f"netsenx_{plan}_{cycle}")
        self._set_item(subscription, price_id, item["current_period_start"], item["current_period_end"])
        return subscription

    def cancel(self, subscription_id: str, ended_at: int) -> dict:
        subscription = self.subscriptions[subscription_id]
        subscription.update(status="canceled", ended_at=ended_at)
        return subscription

    def event(self, event_type: str, obj: dict) -> bytes:
        return json.dumps(
            {
                "id": self._new_id("evt"),
                "object": "event",
                "api_version": "2026-10-28.endive",
                "created": int(time.time()),
                "type": event_type,
                "livemode": False,
                "pending_webhooks": 1,
                "request": {"id": None, "idempotency_key": None},
                "data": {"object": obj},
            }
        ).encode()

    # --- the HTTP API ---------------------------------------------------------------------------------

    def answer(self, method: str, path: str, params: dict[str, str], auth: str | None) -> tuple[int, dict]:
        with self._lock:
            self.requests.append((method, path, params))
            if self.failure is not None:
                return self.failure
            if auth != f"Bearer {API_KEY}":
                return stripe_error(
                    401, "invalid_request_error", "Invalid API Key provided.", "api_key_invalid"
                )
            route = {
                ("POST", "/v1/customers"): self._create_customer,
                ("GET", "/v1/prices"): self._list_prices,
                ("POST", "/v1/checkout/sessions"): self._create_checkout_session,
                ("POST", "/v1/billing_portal/sessions"): self._create_portal_session,
            }.get((method, path))
            if route is not None:
                return route(params)
            if method == "GET" and path.startswith("/v1/subscriptions/"):
                return self._retrieve("subscription", self.subscriptions, path.rsplit("/", 1)[1])
            if method == "GET" and path.startswith("/v1/customers/"):
                return self._retrieve("customer", self.customers, path.rsplit("/", 1)[1])
            return stripe_error(404, "invalid_request_error", f"Unrecognized request URL ({method}: {path}).")

    def _create_customer(self, params: dict[str, str]) -> tuple[int, dict]:
        customer_id = self._new_id("cus")
        self.customers[customer_id] = {
            "id": customer_id,
            "object": "customer",
            "name": params.get("name"),
            "metadata": _nested(params, "metadata"),
        }
        return 200, self.customers[customer_id]

    def _list_prices(self, params: dict[str, str]) -> tuple[int, dict]:
        wanted = {value for key, value in params.items() if key.startswith("lookup_keys[")}
        data = [price for price in self.prices.values() if price["lookup_key"] in wanted]
        return 200, {"object": "list", "data": data, "has_more": False, "url": "/v1/prices"}

    def _create_checkout_session(self, params: dict[str, str]) -> tuple[int, dict]:
        customer, price = params.get("customer"), params.get("line_items[0][price]")
        if customer not in self.customers:
            return stripe_error(
                400, "invalid_request_error", f"No such customer: '{customer}'", "resource_missing"
            )
        if price not in self.prices:
            return stripe_error(400, "invalid_request_error", f"No such price: '{price}'", "resource_missing")
        session_id = self._new_id("cs_test")
        self.sessions[session_id] = {
            "id": session_id,
            "object": "checkout.session",
            "mode": params.get("mode"),
            "status": "open",
            "payment_status": "unpaid",
            "customer": customer,
            "client_reference_id": params.get("client_reference_id"),
            "metadata": _nested(params, "metadata"),
            "subscription": None,
            "success_url": params.get("success_url"),
            "url": f"https://checkout.stripe.com/c/pay/{session_id}",
        }
        self._session_prices[session_id] = price
        return 200, self.sessions[session_id]

    def _create_portal_session(self, params: dict[str, str]) -> tuple[int, dict]:
        customer = params.get("customer")
        if customer not in self.customers:
            return stripe_error(
                400, "invalid_request_error", f"No such customer: '{customer}'", "resource_missing"
            )
        session_id = self._new_id("bps")
        return 200, {
            "id": session_id,
            "object": "billing_portal.session",
            "customer": customer,
            "return_url": params.get("return_url"),
            "url": f"https://billing.stripe.com/p/session/test_{session_id}",
        }

    def _retrieve(self, kind: str, objects: dict[str, dict], object_id: str) -> tuple[int, dict]:
        if object_id not in objects:
            return stripe_error(
                404, "invalid_request_error", f"No such {kind}: '{object_id}'", "resource_missing"
            )
        return 200, objects[object_id]

    def _set_item(self, subscription: dict, price_id: str, start: int, end: int) -> None:
        subscription["items"]["data"] = [
            {
                "id": self._new_id("si"),
                "object": "subscription_item",
                "price": self.prices[price_id],
                "quantity": 1,
                "current_period_start": start,
                "current_period_end": end,
            }
        ]

    def _price_id(self, lookup_key: str) -> str:
        return next(p["id"] for p in self.prices.values() if p["lookup_key"] == lookup_key)

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):06d}"

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode() if length else ""
                params = dict(parse_qsl(url.query)) | dict(parse_qsl(body))
                status, payload = fake.answer(
                    self.command, url.path, params, self.headers.get("Authorization")
                )
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", f"req_{next(fake._ids):06d}")
                self.end_headers()
                self.wfile.write(data)

            do_GET = do_POST = do_DELETE = _serve

            def log_message(self, *args: Any) -> None:
                pass

        return Handler


def _nested(params: dict[str, str], name: str) -> dict[str, str]:
    """``metadata[license_id]=x`` form fields back into ``{"license_id": "x"}``."""
    prefix = f"{name}["
    return {key[len(prefix) : -1]: value for key, value in params.items() if key.startswith(prefix)}


def signature_header(payload: bytes, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """Stripe's webhook signature: ``t=<unix>,v1=hex(HMAC-SHA256(secret, "<t>.<payload>"))``."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    signed = f"{timestamp}.".encode() + payload
    return f"t={timestamp},v1={hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()}"
