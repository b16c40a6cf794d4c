"""The box's own license: which key is installed, what it allows right now, and the API's license gates.

Installed keys live in the `license_keys` table (migration 0004); the newest row is the box's license, older
rows are the history. A stored key is verified again on every read, so a change of the trusted vendor keys
(configuration) takes effect at once and a row edited behind the box's back is never believed.

Which vendor keys the box trusts: the built-in production key, unless the environment variable
``NETSENX_VENDOR_PUBLIC_KEYS`` names others (comma-separated, raw base64url or PEM; see `keys.load_public_key`).
Tests and key rotation use it.

No license installed (first boot not finished): sensors cannot register and reports are locked (423) with a
hint saying how to install one. Detection of what is already registered never depends on the license.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from litestar.exceptions import PermissionDeniedException

from appliance.api.errors import Locked
from appliance.licensing import keys, state
from appliance.licensing.keys import License, LicenseError
from appliance.store.database import Store

log = logging.getLogger("netsenx.licensing")

VENDOR_KEYS_ENV = "NETSENX_VENDOR_PUBLIC_KEYS"
NO_LICENSE_HINT = (
    "no license is installed on this box: an admin installs one under Settings > License "
    "(PUT /api/v1/license) or with `appliance license install KEY|FILE`"
)


class InstalledLicense(msgspec.Struct, frozen=True):
    license: License
    key: str
    installed_at: float
    source: str  # "admin" or "cloud"


class LicenseView(msgspec.Struct):
    """What `GET /license` and `appliance license show` report."""

    installed: bool
    hint: str
    sensors_registered: int
    license: License | None = None
    status: state.Status | None = None
    days_left: int | None = None
    locks_at: int | None = None
    grace_days_left: int | None = None
    installed_at: float | None = None
    source: str | None = None


def trusted_keys(environ: Mapping[str, str] = os.environ) -> list[Ed25519PublicKey]:
    configured = [text for text in environ.get(VENDOR_KEYS_ENV, "").split(",") if text.strip()]
    return keys.trusted_public_keys(configured or None)


def installed(store: Store, trusted: list[Ed25519PublicKey]) -> InstalledLicense | None:
    row = store.query_one("SELECT license_key, installed_at, source FROM license_keys ORDER BY id DESC LIMIT 1")
    if row is None:
        return None
    try:
        license = keys.verify_license(row["license_key"], trusted)
    except LicenseError as error:
        log.warning("the installed license key no longer verifies (%s); treating the box as unlicensed", error)
        return None
    return InstalledLicense(license, row["license_key"], row["installed_at"], row["source"])


def install(
    store: Store, key: str, trusted: list[Ed25519PublicKey], source: str = "admin", now: float | None = None
) -> tuple[License, bool]:
    """Verify `key` and make it the box's license. Returns (license, changed); installing the current key
    again changes nothing. An older issue of the installed license is refused: no rolling back a renewal."""
    license = keys.verify_license(key, trusted)
    compact = "".join(key.split())
    with store.write_transaction():
        current = installed(store, trusted)
        if current is not None and current.key == compact:
            return license, False
        if (
            current is not None
            and current.license.license_id == license.license_id
            and license.issued_at < current.license.issued_at
        ):
            raise LicenseError(
                f"this key is an older issue of license {license.license_id} than the one installed; keeping "
                "the installed one"
            )
        store.execute(
            "INSERT INTO license_keys (license_id, license_key, issued_at, expires_at, installed_at, source) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            (
                license.license_id,
                compact,
                license.issued_at,
                license.expires_at,
                time.time() if now is None else now,
                source,
            ),
        )
    return license, True


def sensors_registered(store: Store) -> int:
    """Sensors that count against the license: registered and not revoked."""
    return store.query_one("SELECT count(*) AS n FROM agents WHERE revoked = 0")["n"]


def current_state(store: Store, trusted: list[Ed25519PublicKey], now: float | None = None) -> state.LicenseState | None:
    current = installed(store, trusted)
    return None if current is None else state.license_state(current.license, time.time() if now is None else now)


def view(store: Store, trusted: list[Ed25519PublicKey], now: float | None = None) -> LicenseView:
    now = time.time() if now is None else now
    current = installed(store, trusted)
    count = sensors_registered(store)
    if current is None:
        return LicenseView(installed=False, hint=NO_LICENSE_HINT, sensors_registered=count)
    seen = state.license_state(current.license, now)
    return LicenseView(
        installed=True,
        hint=state.renewal_hint(seen),
        sensors_registered=count,
        license=current.license,
        status=seen.status,
        days_left=seen.days_left,
        locks_at=seen.locks_at,
        grace_days_left=seen.grace_days_left,
        installed_at=current.installed_at,
        source=current.source,
    )


def raise_unless_allowed(gate: state.Gate) -> None:
    """A closed gate as the API's answer: 423 when the license is locked, 403 otherwise."""
    if gate.allowed:
        return
    if gate.reason == "license_locked":
        raise Locked(gate.detail)
    raise PermissionDeniedException(gate.detail)


def report_gate(store: Store, now: float | None = None) -> None:
    """For `POST /reports/*`: raises `Locked` (423) when there is no license or it is locked, and 403 when
    the plan has no reports. Returns quietly when a report may be generated."""
    seen = current_state(store, trusted_keys(), now)
    if seen is None:
        raise Locked(f"generating reports is locked: {NO_LICENSE_HINT}")
    raise_unless_allowed(state.can_generate_report(seen))


def siem_export_gate(store: Store, now: float | None = None) -> state.Gate:
    """Whether the SIEM export may run now: the plan's `siem_export` feature and a license not locked."""
    seen = current_state(store, trusted_keys(), now)
    if seen is None:
        return state.Gate(False, "license_locked", f"the SIEM export is locked: {NO_LICENSE_HINT}")
    return state.can_export_siem(seen)
