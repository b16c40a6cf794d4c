"""The vendor licensing service in-process (Litestar TestClient) against the fake Stripe on loopback."""

import socket
import sqlite3
import time

import msgspec
import pytest
from litestar.testing import TestClient

from appliance.licensing.cloud_client import accept_refreshed_license
from appliance.licensing.keys import LicenseError, verify_license
from appliance.licensing.protocol import HeartbeatReply
from appliance.licensing.sovereignty import heartbeat_payload
from tests.licensing.fake_stripe import API_KEY, WEBHOOK_SECRET, signature_header, stripe_error
from vendor_cloud.licensing.app import create_app
from vendor_cloud.licensing.service import LicensingService, ServiceConfig
from vendor_cloud.licensing.store import VendorStore
from vendor_cloud.licensing.stripe_billing import StripeBilling

DAY = 86_400


def _heartbeat_body(license_id: str) -> bytes:
    return msgspec.json.encode(heartbeat_payload(license_id, "box-7f3a", "2.0.0", "1.3.0", 2, 41, 90_000))


def _heartbeat(vendor, key: str, license_id: str = "lic_test0001"):
    return vendor.client.post(
        "/v1/heartbeat", content=_heartbeat_body(license_id), headers={"X-License-Key": key}
    )


def _checkout(vendor, key: str, plan: str = "enterprise", cycle: str = "annual"):
    body = {"license_id": "lic_test0001", "plan": plan, "billing_cycle": cycle}
    return vendor.client.post("/v1/billing/checkout", json=body, headers={"X-License-Key": key})


def _webhook(vendor, event_type: str, obj: dict, secret: str = WEBHOOK_SECRET, timestamp: int | None = None):
    payload = vendor.fake.event(event_type, obj)
    headers = {"Stripe-Signature": signature_header(payload, secret, timestamp)}
    return vendor.client.post("/v1/stripe/webhook", content=payload, headers=headers)


def _current_license(vendor, key: str, vendor_key):
    """What the box holds after a heartbeat: the refreshed license if the vendor sent one."""
    reply = msgspec.json.decode(_heartbeat(vendor, key).content, type=HeartbeatReply)
    current = verify_license(key, [vendor_key.public_key()])
    refreshed = accept_refreshed_license(current, reply, [vendor_key.public_key()])
    return refreshed if refreshed else (current, key)


def _now_license(make_license, **overrides):
    now = int(time.time())
    return make_license(issued_at=now - 10 * DAY, expires_at=now + 20 * DAY, **overrides)


# --- heartbeat ----------------------------------------------------------------------------------------


def test_heartbeat_returns_update_info_and_records_only_the_counts(vendor, make_license):
    _, key = make_license()
    response = _heartbeat(vendor, key)
    assert response.status_code == 200
    reply = msgspec.json.decode(response.content, type=HeartbeatReply)
    assert (reply.revoked, reply.license_key) == (False, None)
    assert (reply.update.latest_sensor_version, reply.update.latest_appliance_version) == ("1.4.0", "2.1.0")
    with sqlite3.connect(vendor.store._path) as db:
        rows = db.execute("SELECT license_id, box_id, appliance_version, counts FROM boxes").fetchall()
    assert rows == [("lic_test0001", "box-7f3a", "2.0.0", '{"sensors":2,"alerts_24h":41,"flows_24h":90000}')]


def test_heartbeat_with_any_extra_field_is_refused(vendor, make_license):
    _, key = make_license()
    body = msgspec.json.decode(_heartbeat_body("lic_test0001")) | {"hostnames": ["dc01.acme.local"]}
    response = vendor.client.post("/v1/heartbeat", json=body, headers={"X-License-Key": key})
    assert response.status_code == 400
    assert "hostnames" in response.json()["detail"]


@pytest.mark.parametrize(
    ("header", "status", "phrase"),
    [(None, 401, "missing license key"), ("nsx_bad.key", 401, "license key rejected")],
)
def test_heartbeat_without_a_valid_key_is_unauthorized(vendor, header, status, phrase):
    headers = {"X-License-Key": header} if header else {}
    response = vendor.client.post("/v1/heartbeat", content=_heartbeat_body("lic_x"), headers=headers)
    assert response.status_code == status
    assert phrase in response.json()["detail"]


def test_key_from_another_vendor_is_unauthorized(vendor, make_license):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    _, key = make_license(signing_key=Ed25519PrivateKey.generate())
    assert _heartbeat(vendor, key).status_code == 401


def test_key_for_another_license_id_is_forbidden(vendor, make_license):
    _, key = make_license()
    response = _heartbeat(vendor, key, license_id="lic_someone_else")
    assert response.status_code == 403
    assert response.json() == {"detail": "license_id does not match the license key"}


def test_revoked_license_is_reported_and_cannot_buy(vendor, make_license):
    _, key = make_license()
    vendor.store.revoke("lic_test0001", int(time.time()))
    assert _heartbeat(vendor, key).json()["revoked"] is True
    response = _checkout(vendor, key)
    assert response.status_code == 403 and "revoked" in response.json()["detail"]


# --- billing relays ----------------------------------------------------------------------------------


def test_checkout_creates_one_customer_and_a_session_for_the_right_price(vendor, make_license):
    _, key = make_license()
    first = _checkout(vendor, key, "enterprise", "annual")
    second = _checkout(vendor, key, "professional", "monthly")
    assert first.status_code == second.status_code == 200
    assert first.json()["url"].startswith("https://checkout.stripe.com/c/pay/cs_test_")
    assert len(vendor.fake.customers) == 1
    sessions = [p for m, path, p in vendor.fake.requests if path == "/v1/checkout/sessions"]
    prices = {p["id"]: p["lookup_key"] for p in vendor.fake.prices.values()}
    assert [prices[s["line_items[0][price]"]] for s in sessions] == [
        "netsenx_enterprise_annual",
        "netsenx_professional_monthly",
    ]
    assert sessions[0]["client_reference_id"] == "lic_test0001"
    assert sessions[0]["subscription_data[metadata][license_id]"] == "lic_test0001"


def test_checkout_rejects_an_unknown_plan(vendor, make_license):
    _, key = make_license()
    response = _checkout(vendor, key, plan="platinum")
    assert response.status_code == 400
    assert "plan" in response.json()["detail"]


def test_portal_needs_a_billing_account_then_returns_the_portal_url(vendor, make_license):
    _, key = make_license()
    body = {"license_id": "lic_test0001", "return_url": "https://box.acme.local/billing"}
    assert (
        vendor.client.post("/v1/billing/portal", json=body, headers={"X-License-Key": key}).status_code == 404
    )
    _checkout(vendor, key)
    response = vendor.client.post("/v1/billing/portal", json=body, headers={"X-License-Key": key})
    assert response.status_code == 200
    assert response.json()["url"].startswith("https://billing.stripe.com/p/session/")
    assert vendor.fake.requests[-1][2]["return_url"] == "https://box.acme.local/billing"


def test_subscription_reads_stripe_after_checkout_completes(vendor, make_license):
    license, key = make_license()
    headers = {"X-License-Key": key}
    before = vendor.client.get("/v1/billing/subscription?license_id=lic_test0001", headers=headers).json()
    assert before == {
        "license_id": "lic_test0001",
        "plan": "professional",
        "status": "none",
        "current_period_end": None,
        "billing_cycle": None,
        "license_expires_at": license.expires_at,
    }
    session_id = _checkout(vendor, key, "enterprise", "monthly").json()["url"].rsplit("/", 1)[1]
    session, subscription, _ = vendor.fake.complete_checkout(session_id, int(time.time()), 30)
    assert _webhook(vendor, "checkout.session.completed", session).status_code == 200
    after = vendor.client.get("/v1/billing/subscription?license_id=lic_test0001", headers=headers).json()
    period_end = subscription["items"]["data"][0]["current_period_end"]
    assert (after["plan"], after["status"], after["billing_cycle"]) == ("enterprise", "active", "monthly")
    assert after["current_period_end"] == period_end


@pytest.mark.parametrize(
    ("failure", "phrase"),
    [
        (stripe_error(500, "api_error", "Something went wrong on Stripe's end."), "HTTP 500"),
        (stripe_error(402, "card_error", "Your card was declined.", "card_declined"), "card_declined"),
        (stripe_error(401, "invalid_request_error", "Invalid API Key provided."), "HTTP 401"),
    ],
)
def test_stripe_errors_become_502_with_a_clear_detail(vendor, make_license, failure, phrase):
    _, key = make_license()
    vendor.fake.failure = failure
    response = _checkout(vendor, key)
    assert response.status_code == 502
    detail = response.json()["detail"]
    assert detail.startswith("Stripe refused to create the customer") and phrase in detail
    assert failure[1]["error"]["message"] in detail


def test_unreachable_stripe_is_502(vendor_key, make_license, tmp_path):
    with socket.socket() as probe:  # a loopback port nobody listens on
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    service = LicensingService(
        vendor_key,
        VendorStore(tmp_path / "v.sqlite"),
        StripeBilling(API_KEY, f"http://127.0.0.1:{closed_port}", max_network_retries=0, timeout_s=2),
        ServiceConfig(),
    )
    _, key = make_license()
    with TestClient(app=create_app(service, WEBHOOK_SECRET)) as client:
        body = {"license_id": "lic_test0001", "plan": "starter", "billing_cycle": "monthly"}
        response = client.post("/v1/billing/checkout", json=body, headers={"X-License-Key": key})
    assert response.status_code == 502
    assert response.json() == {
        "detail": "Stripe is unreachable, could not create the customer; try again later"
    }


# --- webhooks ----------------------------------------------------------------------------------------


def test_webhooks_upgrade_renew_downgrade_and_cancel_the_license(vendor, make_license, vendor_key):
    original, key = _now_license(make_license, plan="starter", features=("reports",), max_sensors=1)
    session_id = _checkout(vendor, key, "enterprise", "annual").json()["url"].rsplit("/", 1)[1]
    now = int(time.time())
    session, subscription, invoice = vendor.fake.complete_checkout(session_id, now, 365)

    # Upgrade: plan, features and sensor cap follow the bought plan; the expiry does not move yet.
    assert _webhook(vendor, "checkout.session.completed", session).json() == {
        "received": True,
        "handled": True,
    }
    upgraded, key = _current_license(vendor, key, vendor_key)
    assert (upgraded.plan, upgraded.max_sensors, upgraded.expires_at) == (
        "enterprise",
        25,
        original.expires_at,
    )
    assert "ot_detections" in upgraded.features

    # Renew: the paid invoice moves the expiry to the end of the paid period; a replay changes nothing.
    paid_until = invoice["lines"]["data"][0]["period"]["end"]
    assert _webhook(vendor, "invoice.paid", invoice).status_code == 200
    renewed, key = _current_license(vendor, key, vendor_key)
    assert renewed.expires_at == paid_until and renewed.issued_at > upgraded.issued_at
    _webhook(vendor, "invoice.paid", invoice)
    assert _heartbeat(vendor, key).json()["license_key"] is None

    # Plan change in the Customer Portal: features and cap follow, expiry kept.
    changed = vendor.fake.change_plan(subscription["id"], "professional", "annual")
    assert _webhook(vendor, "customer.subscription.updated", changed).status_code == 200
    downgraded, key = _current_license(vendor, key, vendor_key)
    assert (downgraded.plan, downgraded.features, downgraded.max_sensors) == (
        "professional",
        ("reports", "siem_export"),
        5,
    )
    assert downgraded.expires_at == paid_until

    # Cancel: the license expires when the subscription ended.
    ended = vendor.fake.cancel(subscription["id"], ended_at=now + 3600)
    assert _webhook(vendor, "customer.subscription.deleted", ended).status_code == 200
    canceled, key = _current_license(vendor, key, vendor_key)
    assert canceled.expires_at == now + 3600
    subscription_info = vendor.client.get(
        "/v1/billing/subscription?license_id=lic_test0001", headers={"X-License-Key": key}
    ).json()
    assert subscription_info["status"] == "canceled"


def test_invoice_paid_before_checkout_completed_still_renews(vendor, make_license, vendor_key):
    original, key = _now_license(make_license)
    session_id = _checkout(vendor, key, "professional", "monthly").json()["url"].rsplit("/", 1)[1]
    _, _, invoice = vendor.fake.complete_checkout(session_id, int(time.time()), 30)
    assert _webhook(vendor, "invoice.paid", invoice).status_code == 200
    renewed, _ = _current_license(vendor, key, vendor_key)
    assert renewed.expires_at == invoice["lines"]["data"][0]["period"]["end"] > original.expires_at


def test_box_refuses_a_refreshed_key_that_is_older(vendor, make_license, vendor_key):
    old, old_key = make_license(issued_at=1_000)
    new, new_key = make_license(issued_at=2_000)
    _heartbeat(vendor, new_key)  # the vendor now knows the newer key
    reply = msgspec.json.decode(_heartbeat(vendor, old_key).content, type=HeartbeatReply)
    assert reply.license_key is not None
    assert accept_refreshed_license(old, reply, [vendor_key.public_key()]) == (new, new_key)
    with pytest.raises(LicenseError, match="older"):
        accept_refreshed_license(new, reply, [vendor_key.public_key()])


@pytest.mark.parametrize(
    ("secret", "age_s"),
    [("whsec_wrong", 0), (WEBHOOK_SECRET, 3600)],
    ids=["wrong-secret", "stale-timestamp"],
)
def test_webhook_with_an_invalid_signature_is_400_and_changes_nothing(vendor, make_license, secret, age_s):
    _, key = make_license()
    session_id = _checkout(vendor, key).json()["url"].rsplit("/", 1)[1]
    session, _, _ = vendor.fake.complete_checkout(session_id, int(time.time()), 30)
    response = _webhook(vendor, "checkout.session.completed", session, secret, int(time.time()) - age_s)
    assert response.status_code == 400
    assert response.json() == {"detail": "invalid Stripe-Signature"}
    assert _heartbeat(vendor, key).json()["license_key"] is None


def test_webhook_without_signature_header_is_400(vendor):
    response = vendor.client.post("/v1/stripe/webhook", content=b'{"type": "invoice.paid"}')
    assert response.status_code == 400


@pytest.mark.parametrize("body", [b"not json", b"{}", b'{"type": "invoice.paid"}'])
def test_signed_webhook_that_is_not_an_event_is_400(vendor, body):
    headers = {"Stripe-Signature": signature_header(body)}
    response = vendor.client.post("/v1/stripe/webhook", content=body, headers=headers)
    assert response.status_code == 400
    assert response.json() == {"detail": "webhook body is not a Stripe event"}


def test_signed_event_missing_fields_is_400(vendor, make_license):
    _, key = make_license()
    _heartbeat(vendor, key)
    response = _webhook(vendor, "invoice.paid", {"object": "invoice", "parent": {"subscription_details": {
        "subscription": "sub_1", "metadata": {"license_id": "lic_test0001"}}}})  # fmt: skip
    assert response.status_code == 400
    assert response.json()["detail"].startswith("malformed invoice.paid event")


def test_webhook_for_an_unknown_subscription_is_400(vendor):
    subscription = {"id": "sub_nobody", "object": "subscription", "customer": "cus_x", "metadata": {}}
    response = _webhook(vendor, "customer.subscription.deleted", subscription)
    assert response.status_code == 400
    assert "belongs to no known license" in response.json()["detail"]


def test_events_the_service_does_not_use_are_acknowledged(vendor):
    response = _webhook(vendor, "customer.created", {"id": "cus_1", "object": "customer"})
    assert response.json() == {"received": True, "handled": False}
