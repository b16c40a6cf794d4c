"""/billing/* on the box, relayed to the vendor licensing service (a real process) and a fake Stripe."""

from __future__ import annotations

import pytest

from appliance.audit import log as audit
from appliance.auth import users
from tests.conftest import free_port, login
from tests.licensing.fake_stripe import stripe_error


def test_checkout_then_portal_then_subscription(api, store, admin_headers, linked_box):
    subscription = api.get("/billing/subscription", headers=admin_headers)
    assert subscription.status_code == 200
    assert subscription.json()["status"] == "none" and subscription.json()["plan"] == "professional"
    checkout = api.post(
        "/billing/checkout", headers=admin_headers, json={"plan": "enterprise", "billing_cycle": "annual"}
    )
    assert checkout.status_code == 200 and checkout.json()["url"].startswith("https://checkout.stripe.com/")
    portal = api.post("/billing/portal", headers=admin_headers)
    assert portal.status_code == 200 and portal.json()["url"].startswith("https://billing.stripe.com/")
    actions = [entry.action for entry in audit.page(store, 20, 0)[0]]
    assert {"billing.checkout_started", "billing.portal_opened"} <= set(actions)
    assert any(path == "/v1/checkout/sessions" for _, path, _ in linked_box.stripe.requests)


def test_portal_before_any_checkout_keeps_the_services_answer(api, admin_headers, linked_box, make_license, store):
    from appliance.licensing import box_license

    _, fresh = make_license(license_id="lic_never_billed")
    box_license.install(store, fresh, box_license.trusted_keys())
    response = api.post("/billing/portal", headers=admin_headers, json={})
    assert response.status_code == 404 and "start with a checkout" in response.json()["detail"]


@pytest.mark.parametrize(
    "body, field",
    [
        ({"plan": "platinum", "billing_cycle": "annual"}, "plan"),
        ({"plan": "starter", "billing_cycle": "weekly"}, "billing_cycle"),
        ({"plan": "starter"}, "billing_cycle"),
    ],
)
def test_bad_plan_or_cycle_is_400(api, admin_headers, linked_box, body, field):
    response = api.post("/billing/checkout", headers=admin_headers, json=body)
    assert response.status_code == 400 and field in response.json()["detail"]


def test_stripe_failure_is_502_with_the_reason(api, admin_headers, linked_box):
    linked_box.stripe.failure = stripe_error(500, "api_error", "Stripe is having a bad day")
    try:
        response = api.post(
            "/billing/checkout", headers=admin_headers, json={"plan": "starter", "billing_cycle": "monthly"}
        )
    finally:
        linked_box.stripe.failure = None
    assert response.status_code == 502
    assert response.json()["detail"].startswith("licensing service: ")


def test_unreachable_licensing_service_is_502(api, admin_headers, license_key):
    api.put("/settings/cloud", headers=admin_headers, json={"enabled": True, "url": f"http://127.0.0.1:{free_port()}"})
    response = api.get("/billing/subscription", headers=admin_headers)
    assert response.status_code == 502 and "unreachable" in response.json()["detail"]


def test_billing_needs_the_link_on_a_license_and_an_admin(api, store, admin_headers, current_license, vendor_service):
    off = api.get("/billing/subscription", headers=admin_headers)
    assert off.status_code == 409 and "switched off" in off.json()["detail"]
    api.put("/settings/cloud", headers=admin_headers, json={"enabled": True, "url": vendor_service.url})
    unlicensed = api.get("/billing/subscription", headers=admin_headers)
    assert unlicensed.status_code == 423 and "no license is installed" in unlicensed.json()["detail"]
    users.create_user(store, "ana", "analyst password 1", "analyst")
    analyst = login(api, "ana", "analyst password 1")
    for response in (
        api.get("/billing/subscription", headers=analyst),
        api.post("/billing/checkout", headers=analyst, json={"plan": "starter", "billing_cycle": "monthly"}),
        api.post("/billing/portal", headers=analyst),
    ):
        assert response.status_code == 403
