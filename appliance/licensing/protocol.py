"""Wire format between the box and the vendor licensing service (besides `sovereignty.CloudHeartbeat`).

Every call from the box is authenticated by its license key in the `LICENSE_KEY_HEADER` header; the
service verifies the signature and that the body's ``license_id`` is the key's. Errors are
``{"detail": "..."}`` with 4xx for the box's mistakes and 502 when Stripe fails.
"""

from typing import Literal

import msgspec

from appliance.licensing.plans import Plan

LICENSE_KEY_HEADER = "X-License-Key"

BillingCycle = Literal["monthly", "annual"]


class UpdateInfo(msgspec.Struct, frozen=True):
    latest_sensor_version: str
    latest_appliance_version: str


class HeartbeatReply(msgspec.Struct, frozen=True):
    license_id: str
    revoked: bool
    license_key: str | None
    """A renewed / changed key when the vendor holds a newer one than the box sent; else null."""
    update: UpdateInfo


class CheckoutRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    license_id: str
    plan: Plan
    billing_cycle: BillingCycle
    return_url: str | None = None
    """Where Stripe sends the admin back (usually the box's Billing page); the service's default if null."""


class PortalRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    license_id: str
    return_url: str | None = None


class BillingSession(msgspec.Struct, frozen=True):
    """A Stripe-hosted page (Checkout or Customer Portal) to open in the admin's browser."""

    url: str


class SubscriptionInfo(msgspec.Struct, frozen=True):
    license_id: str
    plan: Plan
    status: str
    """Stripe's subscription status (active, past_due, canceled, …) or "none" without a subscription."""
    current_period_end: int | None
    billing_cycle: BillingCycle | None
    license_expires_at: int
