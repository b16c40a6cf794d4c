"""HTTP face of the licensing service (Litestar). Errors are always ``{"detail": "..."}``.

    POST /v1/heartbeat             CloudHeartbeat            -> HeartbeatReply
    POST /v1/billing/checkout      CheckoutRequest           -> {"url"}   (Stripe Checkout)
    POST /v1/billing/portal        PortalRequest             -> {"url"}   (Stripe Customer Portal)
    GET  /v1/billing/subscription  ?license_id=              -> SubscriptionInfo
    POST /v1/stripe/webhook        Stripe event, signed      -> {"received": true, "handled": bool}

The box's calls carry its license key in the ``X-License-Key`` header. Handlers are sync (Stripe's SDK
and SQLite block), so Litestar runs them in its thread pool.
"""

from typing import Annotated, Any

import msgspec
import stripe
from litestar import Litestar, Request, Response, get, post
from litestar.exceptions import HTTPException, ValidationException
from litestar.params import FromQuery, HeaderParameter, JSONBody, RawBody

from appliance.licensing.protocol import (
    LICENSE_KEY_HEADER,
    BillingSession,
    CheckoutRequest,
    HeartbeatReply,
    PortalRequest,
    SubscriptionInfo,
)
from appliance.licensing.sovereignty import CloudHeartbeat
from vendor_cloud.licensing.service import LicensingService, ServiceError
from vendor_cloud.licensing.stripe_billing import StripeUnavailable

LicenseKeyHeader = Annotated[str | None, HeaderParameter(name=LICENSE_KEY_HEADER)]


class WebhookReceipt(msgspec.Struct, frozen=True):
    received: bool
    handled: bool


def create_app(service: LicensingService, webhook_secret: str) -> Litestar:
    @post("/v1/heartbeat", status_code=200, sync_to_thread=True)
    def heartbeat(data: JSONBody[CloudHeartbeat], license_key: LicenseKeyHeader) -> HeartbeatReply:
        return service.heartbeat(license_key, data)

    @post("/v1/billing/checkout", status_code=200, sync_to_thread=True)
    def checkout(data: JSONBody[CheckoutRequest], license_key: LicenseKeyHeader) -> BillingSession:
        return service.checkout(license_key, data)

    @post("/v1/billing/portal", status_code=200, sync_to_thread=True)
    def portal(data: JSONBody[PortalRequest], license_key: LicenseKeyHeader) -> BillingSession:
        return service.portal(license_key, data)

    @get("/v1/billing/subscription", sync_to_thread=True)
    def subscription(license_id: FromQuery[str], license_key: LicenseKeyHeader) -> SubscriptionInfo:
        return service.subscription(license_key, license_id)

    @post("/v1/stripe/webhook", status_code=200, sync_to_thread=True)
    def stripe_webhook(
        body: RawBody, signature: Annotated[str | None, HeaderParameter(name="Stripe-Signature")]
    ) -> WebhookReceipt:
        try:
            event = stripe.Webhook.construct_event(body, signature, webhook_secret)
            event_type, obj = event.type, event.data.object.to_dict()
        except stripe.SignatureVerificationError:
            raise ServiceError(400, "invalid Stripe-Signature") from None
        except (AttributeError, KeyError, ValueError):  # signed, but not JSON or not shaped like an event
            raise ServiceError(400, "webhook body is not a Stripe event") from None
        return WebhookReceipt(received=True, handled=service.handle_stripe_event(event_type, obj))

    return Litestar(
        route_handlers=[heartbeat, checkout, portal, subscription, stripe_webhook],
        exception_handlers={
            ServiceError: _service_error,
            StripeUnavailable: _stripe_unavailable,
            HTTPException: _http_error,
            Exception: _internal_error,
        },
    )


def _detail(status_code: int, detail: str) -> Response[dict[str, Any]]:
    return Response({"detail": detail}, status_code=status_code)


def _service_error(_: Request, exc: ServiceError) -> Response[dict[str, Any]]:
    return _detail(exc.status_code, exc.detail)


def _stripe_unavailable(_: Request, exc: StripeUnavailable) -> Response[dict[str, Any]]:
    return _detail(502, str(exc))


def _internal_error(request: Request, exc: Exception) -> Response[dict[str, Any]]:
    request.logger.exception("licensing service failure on %s %s", request.method, request.url.path)
    return _detail(500, "internal error in the licensing service")


def _http_error(_: Request, exc: HTTPException) -> Response[dict[str, Any]]:
    """Litestar's own errors (validation, 404, 405) in the ``{"detail"}`` shape, with the reason inline."""
    detail = exc.detail
    if isinstance(exc, ValidationException) and isinstance(exc.extra, list) and exc.extra:
        detail = "; ".join(
            f"{e.get('key', 'body')}: {e.get('message')}" for e in exc.extra if isinstance(e, dict)
        )
        detail = f"invalid request: {detail}" if detail else exc.detail
    return _detail(exc.status_code, detail)
