"""The vendor licensing service as a real process for the box's billing and cloud-sync tests."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest
from cryptography.hazmat.primitives import serialization

from tests.conftest import free_port
from tests.licensing.fake_stripe import API_KEY, WEBHOOK_SECRET, FakeStripe

LATEST_SENSOR_VERSION = "1.4.0"
VENDOR_MAIN = "import sys; from vendor_cloud.licensing.cli import main; sys.exit(main())"


class VendorService(msgspec.Struct):
    url: str
    db: Path
    stripe: FakeStripe


@pytest.fixture(scope="module")
def vendor_service(vendor_key, tmp_path_factory) -> Iterator[VendorService]:
    """The vendor licensing service as a real process (its own `serve` command, Granian) on loopback,
    billing through a fake Stripe; module-wide because it takes a second to start."""
    scratch = tmp_path_factory.mktemp("vendor")
    pem = scratch / "vendor.pem"
    pem.write_bytes(
        vendor_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    port = free_port()
    with FakeStripe() as stripe:
        command = [
            sys.executable,
            "-c",
            VENDOR_MAIN,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--signing-key",
            str(pem),
            "--db",
            str(scratch / "licensing.sqlite"),
            "--stripe-api-key",
            API_KEY,
            "--stripe-webhook-secret",
            WEBHOOK_SECRET,
            "--stripe-api-base",
            stripe.url,
            "--stripe-max-retries",
            "0",
            "--latest-sensor-version",
            LATEST_SENSOR_VERSION,
        ]
        with open(scratch / "vendor.log", "wb") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        try:
            wait_for_port(port, process)
            yield VendorService(url=f"http://127.0.0.1:{port}", db=scratch / "licensing.sqlite", stripe=stripe)
        finally:
            process.terminate()
            process.wait(timeout=15)


def wait_for_port(port: int, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError("the vendor service exited at start")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the vendor service did not start within 30 s")


@pytest.fixture
def linked_box(api, admin_headers, license_key, vendor_service) -> VendorService:
    """A licensed box whose cloud link points at the vendor service."""
    vendor_service.stripe.failure = None
    response = api.put("/settings/cloud", headers=admin_headers, json={"enabled": True, "url": vendor_service.url})
    assert response.status_code == 200, response.text
    return vendor_service
