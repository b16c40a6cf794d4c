"""The box's client for the vendor licensing service.

Every call authenticates with the license key (``X-License-Key``). Failures map onto two errors:

- `CloudUnavailable` (the box answers 502 with its ``detail``): the service cannot be reached, answers
  5xx (including its own 502 when Stripe fails, whose detail is passed on) or answers garbage.
- `CloudRejected` (the box answers with ``status_code`` and ``detail``): the service refused the request
  (4xx), e.g. a revoked license or no billing account yet.

Only the heartbeat retries (with exponential back-off): it runs in the background and is idempotent. The
billing calls are made while an admin waits, so they fail fast and the admin retries.
The box works fully without the cloud; nothing here may block detection.
"""

import time
from collections.abc import Callable
from typing import TypeVar

import httpx
import msgspec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from appliance.licensing.keys import License, LicenseError, verify_license
from appliance.licensing.plans import Plan
from appliance.licensing.protocol import (
    LICENSE_KEY_HEADER,
    BillingCycle,
    BillingSession,
    CheckoutRequest,
    HeartbeatReply,
    PortalRequest,
    SubscriptionInfo,
)
from appliance.licensing.sovereignty import CloudHeartbeat

T = TypeVar("T")


class CloudError(Exception):
    def __init__(self, status_code: int, detail: str):
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail


class CloudUnavailable(CloudError):
    def __init__(self, detail: str):
        super().__init__(502, detail)


class CloudRejected(CloudError):
    pass


class CloudLink(msgspec.Struct, frozen=True):
    """Where the vendor service is and which license the box speaks for."""

    base_url: str
    license_key: str
    license_id: str
    timeout_s: float = 10.0


def heartbeat(
    link: CloudLink,
    payload: CloudHeartbeat,
    attempts: int = 4,
    first_backoff_s: float = 1.0,
    sleep: Callable[[float], None] = time.sleep,
) -> HeartbeatReply:
    """Send ``payload`` (see `sovereignty`), retrying unavailability with back-off 1 s, 2 s, 4 s, …"""
    for attempt in range(attempts - 1):
        try:
            return _call(link, "POST", "/v1/heartbeat", HeartbeatReply, body=payload)
        except CloudUnavailable:
            sleep(first_backoff_s * 2**attempt)
    return _call(link, "POST", "/v1/heartbeat", HeartbeatReply, body=payload)


def checkout(
    link: CloudLink, plan: Plan, billing_cycle: BillingCycle, return_url: str | None = None
) -> BillingSession:
    request = CheckoutRequest(link.license_id, plan, billing_cycle, return_url)
    return _call(link, "POST", "/v1/billing/checkout", BillingSession, body=request)


def portal(link: CloudLink, return_url: str | None = None) -> BillingSession:
    request = PortalRequest(link.license_id, return_url)
    return _call(link, "POST", "/v1/billing/portal", BillingSession, body=request)


def subscription(link: CloudLink) -> SubscriptionInfo:
    return _call(
        link, "GET", "/v1/billing/subscription", SubscriptionInfo, params={"license_id": link.license_id}
    )


def accept_refreshed_license(
    current: License, reply: HeartbeatReply, public_keys: list[Ed25519PublicKey]
) -> tuple[License, str] | None:
    """The renewed / changed license from a heartbeat reply, verified like any key; None if there is none.

    A key for another license, or issued before the current one, is refused: the cloud must not be able
    to swap the box's license or roll it back.
    """
    if reply.license_key is None:
        return None
    refreshed = verify_license(reply.license_key, public_keys)
    if refreshed.license_id != current.license_id or refreshed.issued_at <= current.issued_at:
        raise LicenseError("the cloud sent a key for another or an older license; keeping the current one")
    return refreshed, reply.license_key


def _call(
    link: CloudLink,
    method: str,
    path: str,
    reply_type: type[T],
    body: msgspec.Struct | None = None,
    params: dict[str, str] | None = None,
) -> T:
    url = link.base_url.rstrip("/") + path
    headers = {LICENSE_KEY_HEADER: link.license_key, "Content-Type": "application/json"}
    content = msgspec.json.encode(body) if body is not None else None
    try:
        response = httpx.request(
            method, url, headers=headers, content=content, params=params, timeout=link.timeout_s
        )
    except httpx.HTTPError as err:
        raise CloudUnavailable(f"licensing service unreachable ({type(err).__name__}): {err}") from None
    if response.status_code >= 500:
        raise CloudUnavailable(f"licensing service error: {_detail(response)}")
    if response.status_code >= 400:
        raise CloudRejected(response.status_code, _detail(response))
    try:
        return msgspec.json.decode(response.content, type=reply_type)
    except msgspec.DecodeError as err:
        raise CloudUnavailable(f"licensing service sent an unreadable answer: {err}") from None


def _detail(response: httpx.Response) -> str:
    try:
        return str(response.json()["detail"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code}"
