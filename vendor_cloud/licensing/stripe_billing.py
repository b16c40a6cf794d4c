"""Every Stripe API call the licensing service makes, through the official SDK.

Prices are found by lookup key ``netsenx_<plan>_<cycle>`` (e.g. ``netsenx_professional_annual``), so the
service needs no price ids in its configuration and a plan change made in the Customer Portal can be read
back from the subscription's price. Any Stripe failure becomes `StripeUnavailable` with a message fit for
the admin; the HTTP layer answers it with 502.
"""

from typing import Any

import stripe

from appliance.licensing.keys import License
from appliance.licensing.plans import PLANS
from appliance.licensing.protocol import BillingCycle

LOOKUP_KEY_PREFIX = "netsenx_"
_INTERVAL_CYCLES: dict[str, BillingCycle] = {"month": "monthly", "year": "annual"}


class StripeUnavailable(Exception):
    """Stripe refused or could not be reached; ``str()`` says which and why."""


def price_lookup_key(plan: str, cycle: BillingCycle) -> str:
    return f"{LOOKUP_KEY_PREFIX}{plan}_{cycle}"


def plan_of_price(price: dict[str, Any]) -> str | None:
    """The plan a Stripe price stands for, from its lookup key; None for a price that is not ours."""
    lookup_key = price.get("lookup_key") or ""
    plan = lookup_key.removeprefix(LOOKUP_KEY_PREFIX).rsplit("_", 1)[0]
    return plan if lookup_key.startswith(LOOKUP_KEY_PREFIX) and plan in PLANS else None


def cycle_of_price(price: dict[str, Any]) -> BillingCycle | None:
    recurring = price.get("recurring") or {}
    return _INTERVAL_CYCLES.get(recurring.get("interval", ""))


def first_subscription_item(subscription: dict[str, Any]) -> dict[str, Any]:
    items = subscription["items"]["data"]
    if not items:
        raise ValueError(f"subscription {subscription['id']} has no items")
    return items[0]


class StripeBilling:
    def __init__(self, api_key: str, api_base: str, max_network_retries: int = 2, timeout_s: float = 20.0):
        self._client = stripe.StripeClient(
            api_key,
            base_addresses={"api": api_base},
            max_network_retries=max_network_retries,
            http_client=stripe.RequestsClient(timeout=timeout_s),
        )

    def create_customer(self, license: License) -> str:
        customer = self._call(
            "create the customer",
            lambda: self._client.v1.customers.create(
                params={"name": license.customer, "metadata": {"license_id": license.license_id}}
            ),
        )
        return customer.id

    def checkout_url(
        self, license: License, customer_id: str, plan: str, cycle: BillingCycle, return_url: str
    ) -> str:
        price_id = self._price_id(plan, cycle)
        metadata = {"license_id": license.license_id, "plan": plan, "billing_cycle": cycle}
        session = self._call(
            "create the Checkout session",
            lambda: self._client.v1.checkout.sessions.create(
                params={
                    "mode": "subscription",
                    "customer": customer_id,
                    "client_reference_id": license.license_id,
                    "line_items": [{"price": price_id, "quantity": 1}],
                    "metadata": metadata,
                    "subscription_data": {"metadata": metadata},
                    "success_url": return_url,
                    "cancel_url": return_url,
                }
            ),
        )
        return session.url

    def portal_url(self, customer_id: str, return_url: str) -> str:
        session = self._call(
            "create the Customer Portal session",
            lambda: self._client.v1.billing_portal.sessions.create(
                params={"customer": customer_id, "return_url": return_url}
            ),
        )
        return session.url

    def subscription(self, subscription_id: str) -> dict[str, Any]:
        subscription = self._call(
            "read the subscription", lambda: self._client.v1.subscriptions.retrieve(subscription_id)
        )
        return subscription.to_dict()

    def _price_id(self, plan: str, cycle: BillingCycle) -> str:
        lookup_key = price_lookup_key(plan, cycle)
        prices = self._call(
            "look up the price",
            lambda: self._client.v1.prices.list(params={"lookup_keys": [lookup_key], "active": True}),
        )
        if not prices.data:
            raise StripeUnavailable(f"Stripe has no active price with lookup key {lookup_key}")
        return prices.data[0].id

    @staticmethod
    def _call(what: str, request: Any) -> Any:
        try:
            return request()
        except stripe.APIConnectionError:
            raise StripeUnavailable(f"Stripe is unreachable, could not {what}; try again later") from None
        except stripe.StripeError as err:
            code = f", {err.code}" if err.code else ""
            raise StripeUnavailable(
                f"Stripe refused to {what} (HTTP {err.http_status}{code}): {err.user_message}"
            ) from None
