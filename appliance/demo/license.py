"""A license for the demo box, signed by a demo vendor key the demo box is told to trust.

A real box trusts only the vendor's built-in key; the demo mints its own so that it works offline on the
first run. The demo key never signs anything but the demo's license.
"""

from __future__ import annotations

import time

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.licensing.keys import License, encode_license, key_id, public_key_text
from appliance.licensing.plans import PLAN_FEATURES
from appliance.store.data_dir import DataDirectory, write_private_file

DAY = 86_400


def demo_vendor_key(data_dir: DataDirectory) -> Ed25519PrivateKey:
    path = data_dir.root / "demo-vendor.key"
    if path.exists():
        return Ed25519PrivateKey.from_private_bytes(bytes.fromhex(path.read_text().strip()))
    key = Ed25519PrivateKey.generate()
    write_private_file(path, key.private_bytes_raw().hex().encode())
    return key


def demo_license(vendor_key: Ed25519PrivateKey, now: float | None = None) -> str:
    issued = int(time.time() if now is None else now)
    license = License(
        license_id="lic_demo", customer="NetSenX demo", plan="enterprise", features=PLAN_FEATURES["enterprise"],
        max_sensors=5, issued_at=issued, expires_at=issued + 365 * DAY, key_id=key_id(vendor_key.public_key()),
    )
    return encode_license(license, vendor_key)


def trusted_key_text(vendor_key: Ed25519PrivateKey) -> str:
    return public_key_text(vendor_key.public_key())
