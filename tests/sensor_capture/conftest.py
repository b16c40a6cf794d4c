"""Fixtures for live capture tests: a fresh veth pair per test, always torn down."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from tests.sensor_capture.netns_veth import VethPair, veth_pair


@pytest.fixture
def veth() -> Iterator[VethPair]:
    if os.geteuid() != 0:
        pytest.fail("live capture tests need root (network namespaces, AF_PACKET)")
    with veth_pair() as pair:
        yield pair
