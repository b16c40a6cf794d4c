"""GET /billing/subscription, POST /billing/checkout, POST /billing/portal: admins only.

The box holds no Stripe key: each call is relayed to the vendor licensing service through
`cloud_client`, authenticated by the installed license key. When the service or Stripe fails the admin gets
502 with the reason; a refusal by the service keeps its own status when it means the same to the admin
(400 a bad field, 403 a revoked license, 404 "no billing account yet", 409), any other is a 502: a 401 from
the service is about the box's license key, not the admin's token.
"""

from __future__ import annotations

import msgspec
from litestar import Controller, Request, get, post
from litestar.di import NamedDependency
from litestar.exceptions import HTTPException, NotFoundException, ValidationException
from litestar.params import JSONBody

from appliance.api.errors import BadGateway, Conflict, Locked
from appliance.api.security import admin
from appliance.audit.requests import record_request
from appliance.cloud_sync.settings import cloud_link, load_settings
from appliance.licensing import box_license, cloud_client
from appliance.licensing.cloud_client import CloudLink
from appliance.licensing.plans import Plan
from appliance.licensing.protocol import BillingCycle, BillingSession, SubscriptionInfo
from appliance.store.database import Store


class CheckoutIn(msgspec.Struct, forbid_unknown_fields=True):
    plan: Plan
    billing_cycle: BillingCycle
    return_url: str | None = None


class PortalIn(msgspec.Struct, forbid_unknown_fields=True):
    return_url: str | None = None


def billing_link(store: Store) -> CloudLink:
    settings = load_settings(store)
    if not settings.enabled:
        raise Conflict(
            "the cloud link is switched off on this box, so billing cannot reach the licensing service: "
            "enable it under Settings > Cloud (PUT /api/v1/settings/cloud), or manage billing from netsenx.com"
        )
    current = box_license.installed(store, box_license.trusted_keys())
    if current is None:
        raise Locked(box_license.NO_LICENSE_HINT)
    return cloud_link(settings, current)


RELAYED_REFUSALS = (400, 403, 404, 409)
RELAY_ERRORS = [ValidationException, NotFoundException, Conflict, Locked, BadGateway]


def relayed(call, *args):
    try:
        return call(*args)
    except cloud_client.CloudError as error:
        status = error.status_code if error.status_code in RELAYED_REFUSALS else 502
        raise HTTPException(status_code=status, detail=f"licensing service: {error.detail}") from error


class BillingController(Controller):
    path = "/billing"
    guards = [admin]
    tags = ["billing"]

    @get(
        "/subscription",
        sync_to_thread=True,
        raises=RELAY_ERRORS,
        summary="The license's subscription, as Stripe knows it",
    )
    def subscription(self, store: NamedDependency[Store]) -> SubscriptionInfo:
        return relayed(cloud_client.subscription, billing_link(store))

    @post(
        "/checkout",
        status_code=200,
        sync_to_thread=True,
        raises=RELAY_ERRORS,
        summary="A Stripe Checkout page for a plan",
    )
    def checkout(self, data: JSONBody[CheckoutIn], request: Request, store: NamedDependency[Store]) -> BillingSession:
        session = relayed(cloud_client.checkout, billing_link(store), data.plan, data.billing_cycle, data.return_url)
        record_request(
            store,
            request,
            action="billing.checkout_started",
            target=data.plan,
            details={"billing_cycle": data.billing_cycle},
        )
        return session

    @post("/portal", status_code=200, sync_to_thread=True, raises=RELAY_ERRORS, summary="A Stripe Customer Portal page")
    def portal(
        self, request: Request, store: NamedDependency[Store], data: JSONBody[PortalIn | None] = None
    ) -> BillingSession:
        session = relayed(cloud_client.portal, billing_link(store), data.return_url if data else None)
        record_request(
            store,
            request,
            action="billing.portal_opened",
            target="portal",
        )
        return session
