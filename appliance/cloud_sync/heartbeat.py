"""One heartbeat to the vendor licensing service: build the payload, send it, keep what comes back.

The payload is `sovereignty.CloudHeartbeat` and nothing else: license id, box id, versions and three
counts. A renewed key in the reply is verified like any key and installed (source "cloud").
"""

from __future__ import annotations

import time
from collections.abc import Callable

import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from appliance import __version__
from appliance.agents.versions import oldest
from appliance.audit import log as audit
from appliance.box_identity import box_id
from appliance.cloud_sync.settings import CloudStatus, cloud_link, load_settings, load_status, save_status
from appliance.licensing import box_license, cloud_client, sovereignty
from appliance.licensing.keys import License, LicenseError
from appliance.licensing.protocol import HeartbeatReply
from appliance.store.database import Store

DAY = 86_400
AUDIT_USER = "cloud-sync"
NO_SENSOR_VERSION = "none"


def payload(store: Store, license: License, now: float | None = None) -> sovereignty.CloudHeartbeat:
    since = (time.time() if now is None else now) - DAY
    versions = [row["agent_version"] for row in store.query("SELECT agent_version FROM agents WHERE revoked = 0")]
    return sovereignty.heartbeat_payload(
        license_id=license.license_id,
        box_id=box_id(store),
        appliance_version=__version__,
        sensor_version=oldest(versions) or NO_SENSOR_VERSION,
        sensors=len(versions),
        alerts_24h=store.query_one("SELECT count(*) AS n FROM alerts WHERE created_at >= ?", (since,))["n"],
        flows_24h=store.query_one(
            "SELECT coalesce(sum(flows), 0) AS n FROM ingest_batches WHERE received_at >= ?", (since,)
        )["n"],
    )


def sync_once(
    store: Store,
    trusted: list[Ed25519PublicKey],
    attempts: int = 4,
    sleep: Callable[[float], object] = time.sleep,
    now: float | None = None,
) -> CloudStatus:
    """Send one heartbeat (retrying unavailability with back-off) and record the outcome; returns it.
    Call it only when the link is enabled."""
    now = time.time() if now is None else now
    previous = load_status(store)
    current = box_license.installed(store, trusted)
    if current is None:
        status = msgspec.structs.replace(
            previous, result="no_license", detail=box_license.NO_LICENSE_HINT, last_attempt_at=now
        )
        save_status(store, status)
        return status
    link = cloud_link(load_settings(store), current)
    try:
        reply = cloud_client.heartbeat(link, payload(store, current.license, now), attempts=attempts, sleep=sleep)
    except cloud_client.CloudError as error:
        result = "unavailable" if isinstance(error, cloud_client.CloudUnavailable) else "rejected"
        status = msgspec.structs.replace(previous, result=result, detail=error.detail, last_attempt_at=now)
    else:
        status = CloudStatus(
            result="ok",
            last_attempt_at=now,
            last_success_at=now,
            revoked=reply.revoked,
            latest_sensor_version=reply.update.latest_sensor_version,
            latest_appliance_version=reply.update.latest_appliance_version,
            license_refreshed_at=previous.license_refreshed_at,
        )
        status = _keep_refreshed_license(store, trusted, current.license, reply, status, now)
    save_status(store, status)
    return status


def _keep_refreshed_license(
    store: Store,
    trusted: list[Ed25519PublicKey],
    license: License,
    reply: HeartbeatReply,
    status: CloudStatus,
    now: float,
) -> CloudStatus:
    try:
        refreshed = cloud_client.accept_refreshed_license(license, reply, trusted)
    except LicenseError as error:
        return msgspec.structs.replace(status, detail=f"the cloud's license key was refused: {error}")
    if refreshed is None:
        return status
    renewed, key = refreshed
    box_license.install(store, key, trusted, source="cloud", now=now)
    audit.record(
        store,
        username=AUDIT_USER,
        source_ip="-",
        action="license.refreshed",
        target=renewed.license_id,
        details={"plan": renewed.plan, "expires_at": renewed.expires_at, "max_sensors": renewed.max_sensors},
    )
    return msgspec.structs.replace(status, license_refreshed_at=now)
