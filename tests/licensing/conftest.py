"""Fixtures: a vendor key made per test session, licenses minted with it, a fake Stripe on loopback, and
the licensing service wired to both."""

import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from litestar.testing import TestClient

from appliance.licensing.keys import License, encode_license, key_id
from appliance.licensing.plans import PLAN_FEATURES
from tests.licensing.fake_stripe import API_KEY, WEBHOOK_SECRET, FakeStripe
from vendor_cloud.licensing.app import create_app
from vendor_cloud.licensing.service import LicensingService, ServiceConfig
from vendor_cloud.licensing.store import VendorStore
from vendor_cloud.licensing.stripe_billing import StripeBilling

NOW = 1_790_000_000  # 2026-09-21, a fixed "now" for state tests


@pytest.fixture(scope="session")
def vendor_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


@pytest.fixture
def make_license(vendor_key):
    """``make_license(**overrides) -> (License, key)``, signed by the test vendor key."""

    def make(signing_key: Ed25519PrivateKey = vendor_key, **overrides) -> tuple[License, str]:
        fields = {
            "license_id": "lic_test0001",
            "customer": "ACME Industrial SL",
            "plan": "professional",
            "features": PLAN_FEATURES["professional"],
            "max_sensors": 3,
            "issued_at": NOW - 30 * 86_400,
            "expires_at": NOW + 335 * 86_400,
            "key_id": key_id(signing_key.public_key()),
        }
        license = License(**(fields | overrides))
        return license, encode_license(license, signing_key)

    return make


@pytest.fixture
def fake_stripe() -> Iterator[FakeStripe]:
    with FakeStripe() as fake:
        yield fake


class Vendor(msgspec.Struct):
    client: TestClient
    store: VendorStore
    fake: FakeStripe


@pytest.fixture
def vendor(vendor_key, fake_stripe, tmp_path: Path) -> Iterator[Vendor]:
    """The licensing service in-process (Litestar's TestClient), talking to the fake Stripe."""
    store = VendorStore(tmp_path / "vendor.sqlite")
    service = LicensingService(
        signing_key=vendor_key,
        store=store,
        billing=StripeBilling(API_KEY, fake_stripe.url, max_network_retries=0, timeout_s=5),
        config=ServiceConfig(latest_sensor_version="1.4.0", latest_appliance_version="2.1.0"),
        clock=time.time,
    )
    with TestClient(app=create_app(service, WEBHOOK_SECRET)) as client:
        yield Vendor(client=client, store=store, fake=fake_stripe)
