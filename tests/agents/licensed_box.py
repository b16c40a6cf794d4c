"""Fixtures for a box with a license from the test vendor key (shared by the agents, billing, shipping and
data-sovereignty tests): the box trusts that key through NETSENX_VENDOR_PUBLIC_KEYS, as a real box would be
configured.

A conftest imports these together with `vendor_key` and `make_license` from tests.licensing.conftest."""

from __future__ import annotations

import time

import pytest

from appliance.licensing import box_license
from appliance.licensing.keys import public_key_text

DAY = 86_400


@pytest.fixture
def trusted_vendor(vendor_key, monkeypatch) -> str:
    text = public_key_text(vendor_key.public_key())
    monkeypatch.setenv(box_license.VENDOR_KEYS_ENV, text)
    return text


@pytest.fixture
def current_license(make_license, trusted_vendor):
    """(License, key) valid for a year from now, up to 2 sensors."""
    now = int(time.time())
    return make_license(issued_at=now - DAY, expires_at=now + 365 * DAY, max_sensors=2)


@pytest.fixture
def license_key(store, current_license) -> str:
    """The key, installed on the box."""
    box_license.install(store, current_license[1], box_license.trusted_keys())
    return current_license[1]
