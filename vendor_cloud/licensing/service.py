"""The licensing service's logic, independent of HTTP: authenticate boxes, answer heartbeats, relay billing
to Stripe and turn Stripe events into re-minted licenses.

How billing changes a license (all handlers are idempotent, so Stripe's redeliveries are harmless):

- ``checkout.session.completed``: link the Stripe subscription to the license; switch to the bought plan.
- ``invoice.paid``: renew: ``expires_at`` moves to the end of the paid period (never backwards).
- ``customer.subscription.updated``: follow a plan change made in the Customer Portal.
- ``customer.subscription.deleted``: cancel: the license expires when the subscription ended (never later
  than it already did). The box then gets the usual grace period; detection never stops.

A plan change sets the plan's features; the sensor cap becomes the plan's default, but never shrinks on
an upgrade. Each change re-mints the key (same license_id, new issued_at); the box picks it up with its
next heartbeat.
"""

import secrets
import time
from collections.abc import Callable
from typing import Any

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.licensing.keys import License, LicenseError, encode_license, key_id, verify_license
from appliance.licensing.plans import PLAN_DEFAULT_SENSORS, PLAN_FEATURES, PLANS
from appliance.licensing.protocol import (
    BillingSession,
    CheckoutRequest,
    HeartbeatReply,
    PortalRequest,
    SubscriptionInfo,
    UpdateInfo,
)
from appliance.licensing.sovereignty import CloudHeartbeat
from vendor_cloud.licensing.store import VendorStore
from vendor_cloud.licensing.stripe_billing import (
    StripeBilling,
    cycle_of_price,
    first_subscription_item,
    plan_of_price,
)


class ServiceError(Exception):
    """A request the service refuses; ``status_code`` and ``detail`` go to the client as is."""

    def __init__(self, status_code: int, detail: str):
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


class ServiceConfig(msgspec.Struct, frozen=True):
    default_return_url: str = "https://netsenx.com/billing/done"
    latest_sensor_version: str = "0.1.0"
    latest_appliance_version: str = "0.1.0"


def mint_new_license(
    signing_key: Ed25519PrivateKey,
    customer: str,
    plan: str,
    days: int,
    max_sensors: int,
    features: tuple[str, ...] | None,
    now: int,
) -> str:
    """A key for a new license; ``features`` defaults to the plan's (see `plans.PLAN_FEATURES`)."""
    if plan not in PLANS:
        raise ValueError(f"unknown plan {plan!r}; one of {', '.join(PLANS)}")
    if days < 1 or max_sensors < 1:
        raise ValueError("days and sensors must be at least 1")
    license = License(
        license_id=f"lic_{secrets.token_hex(12)}",
        customer=customer,
        plan=plan,  # type: ignore[arg-type]  # checked against PLANS above
        features=features if features is not None else PLAN_FEATURES[plan],
        max_sensors=max_sensors,
        issued_at=now,
        expires_at=now + days * 86_400,
        key_id=key_id(signing_key.public_key()),
    )
    return encode_license(license, signing_key)


class LicensingService:
    def __init__(
        self,
        signing_key: Ed25519PrivateKey,
        store: VendorStore,
        billing: StripeBilling,
        config: ServiceConfig,
        clock: Callable[[], float] = time.time,
    ):
        self._signing_key = signing_key
        self._public_keys = [signing_key.public_key()]
        self._store = store
        self._billing = billing
        self._config = config
        self._clock = clock

    # --- the box's calls -------------------------------------------------------------------------------

    def authenticate(self, license_key: str | None, license_id: str) -> License:
        """The newest license for a box presenting ``license_key`` about ``license_id``.

        Expired licenses authenticate (they must be able to renew); revocation is checked by the caller.
        """
        if not license_key:
            raise ServiceError(401, "missing license key header")
        try:
            presented = verify_license(license_key, self._public_keys)
        except LicenseError as err:
            raise ServiceError(401, f"license key rejected: {err}") from None
        if presented.license_id != license_id:
            raise ServiceError(403, "license_id does not match the license key")
        self._store.record_key(presented.license_id, license_key, presented.issued_at)
        return self._current(license_id)

    def heartbeat(self, license_key: str | None, heartbeat: CloudHeartbeat) -> HeartbeatReply:
        current = self.authenticate(license_key, heartbeat.license_id)
        self._store.record_heartbeat(heartbeat, int(self._clock()))
        newest_key = self._newest_key(current.license_id)
        return HeartbeatReply(
            license_id=current.license_id,
            revoked=self._store.is_revoked(current.license_id),
            license_key=newest_key if newest_key != license_key else None,
            update=UpdateInfo(
                latest_sensor_version=self._config.latest_sensor_version,
                latest_appliance_version=self._config.latest_appliance_version,
            ),
        )

    def checkout(self, license_key: str | None, request: CheckoutRequest) -> BillingSession:
        license = self._billable(license_key, request.license_id)
        account = self._store.billing_account(license.license_id)
        if account is None:
            customer_id = self._billing.create_customer(license)
            self._store.save_customer(license.license_id, customer_id)
        else:
            customer_id = account.stripe_customer_id
        url = self._billing.checkout_url(
            license,
            customer_id,
            request.plan,
            request.billing_cycle,
            request.return_url or self._config.default_return_url,
        )
        return BillingSession(url=url)

    def portal(self, license_key: str | None, request: PortalRequest) -> BillingSession:
        license = self._billable(license_key, request.license_id)
        account = self._store.billing_account(license.license_id)
        if account is None:
            raise ServiceError(404, "no billing account for this license yet: start with a checkout")
        url = self._billing.portal_url(
            account.stripe_customer_id, request.return_url or self._config.default_return_url
        )
        return BillingSession(url=url)

    def subscription(self, license_key: str | None, license_id: str) -> SubscriptionInfo:
        license = self._billable(license_key, license_id)
        account = self._store.billing_account(license_id)
        if account is None or account.stripe_subscription_id is None:
            return SubscriptionInfo(license_id, license.plan, "none", None, None, license.expires_at)
        subscription = self._billing.subscription(account.stripe_subscription_id)
        item = first_subscription_item(subscription)
        return SubscriptionInfo(
            license_id=license_id,
            plan=plan_of_price(item["price"]) or license.plan,  # type: ignore[arg-type]
            status=subscription["status"],
            current_period_end=item.get("current_period_end"),
            billing_cycle=cycle_of_price(item["price"]),
            license_expires_at=license.expires_at,
        )

    # --- Stripe events ----------------------------------------------------------------------------------

    def handle_stripe_event(self, event_type: str, obj: dict[str, Any]) -> bool:
        """Apply one verified Stripe event; False when the event is not one the service acts on."""
        handlers = {
            "checkout.session.completed": self._checkout_completed,
            "invoice.paid": self._invoice_paid,
            "customer.subscription.updated": self._subscription_updated,
            "customer.subscription.deleted": self._subscription_deleted,
        }
        handler = handlers.get(event_type)
        if handler is None:
            return False
        try:
            handler(obj)
        except (KeyError, TypeError, ValueError) as err:
            raise ServiceError(400, f"malformed {event_type} event: missing or bad {err}") from None
        return True

    def _checkout_completed(self, session: dict[str, Any]) -> None:
        license_id = session.get("client_reference_id") or (session.get("metadata") or {}).get("license_id")
        if not license_id or not session.get("subscription"):
            raise ServiceError(400, "checkout session without license id or subscription")
        self._store.save_subscription(license_id, session["customer"], session["subscription"], "active")
        plan = (session.get("metadata") or {}).get("plan")
        if plan in PLANS:
            self._reissue(license_id, plan=plan)

    def _invoice_paid(self, invoice: dict[str, Any]) -> None:
        details = (invoice.get("parent") or {}).get("subscription_details") or {}
        subscription_id = details.get("subscription")
        if not subscription_id:
            return  # a one-off invoice: nothing to renew
        license_id = self._license_of_subscription(subscription_id, details.get("metadata"))
        paid_until = max(line["period"]["end"] for line in invoice["lines"]["data"])
        self._store.save_subscription(license_id, invoice["customer"], subscription_id, "active")
        current = self._current(license_id)
        self._reissue(license_id, expires_at=max(current.expires_at, paid_until))

    def _subscription_updated(self, subscription: dict[str, Any]) -> None:
        license_id = self._license_of_subscription(subscription["id"], subscription.get("metadata"))
        self._store.save_subscription(
            license_id, subscription["customer"], subscription["id"], subscription["status"]
        )
        plan = plan_of_price(first_subscription_item(subscription)["price"])
        if plan is not None:
            self._reissue(license_id, plan=plan)

    def _subscription_deleted(self, subscription: dict[str, Any]) -> None:
        license_id = self._license_of_subscription(subscription["id"], subscription.get("metadata"))
        self._store.save_subscription(license_id, subscription["customer"], subscription["id"], "canceled")
        ended_at = subscription.get("ended_at") or int(self._clock())
        current = self._current(license_id)
        self._reissue(license_id, expires_at=min(current.expires_at, ended_at))

    # --- internals --------------------------------------------------------------------------------------

    def _billable(self, license_key: str | None, license_id: str) -> License:
        license = self.authenticate(license_key, license_id)
        if self._store.is_revoked(license_id):
            raise ServiceError(403, "this license has been revoked; contact NetSenX support")
        return license

    def _license_of_subscription(self, subscription_id: str, metadata: Any) -> str:
        account = self._store.billing_account_by_subscription(subscription_id)
        license_id = account.license_id if account else (metadata or {}).get("license_id")
        if not license_id or self._store.newest_key(license_id) is None:
            raise ServiceError(400, f"subscription {subscription_id} belongs to no known license")
        return license_id

    def _newest_key(self, license_id: str) -> str:
        known = self._store.newest_key(license_id)
        if known is None:
            raise ServiceError(404, f"unknown license {license_id}")
        return known[0]

    def _current(self, license_id: str) -> License:
        return verify_license(self._newest_key(license_id), self._public_keys)

    def _reissue(self, license_id: str, plan: str | None = None, expires_at: int | None = None) -> None:
        """Re-mint ``license_id`` with a new plan and/or expiry; a no-op when nothing changes."""
        current = self._current(license_id)
        new_plan = plan or current.plan
        changes: dict[str, Any] = {}
        if new_plan != current.plan:
            upgrade = PLANS.index(new_plan) > PLANS.index(current.plan)
            default_sensors = PLAN_DEFAULT_SENSORS[new_plan]
            changes["plan"] = new_plan
            changes["features"] = PLAN_FEATURES[new_plan]
            changes["max_sensors"] = max(default_sensors, current.max_sensors) if upgrade else default_sensors
        if expires_at is not None and expires_at != current.expires_at:
            changes["expires_at"] = expires_at
        if not changes:
            return
        # issued_at must grow even for two changes within one second: it decides which key is newest.
        issued_at = max(int(self._clock()), current.issued_at + 1)
        renewed = msgspec.structs.replace(current, issued_at=issued_at, **changes)
        self._store.record_key(license_id, encode_license(renewed, self._signing_key), issued_at)
