"""HTTPS POST of a JSON body, signed as the Standard Webhooks specification says (standardwebhooks.com).

Headers on every request:
- `webhook-id`: the message's id, the same on every attempt: the receiver drops a repeat it already took
  (also sent as `Idempotency-Key`, the IETF draft's name for it);
- `webhook-timestamp`: seconds since the epoch when this attempt was signed: a receiver refuses one that is
  more than a few minutes off, so a captured request cannot be replayed later;
- `webhook-signature`: `v1,` + base64 HMAC-SHA256 over `{id}.{timestamp}.{body}` with the channel's secret
  (`whsec_` + base64 of 32 random bytes). Libraries exist for most languages; `verify` below is the reference.

Redirects are not followed (a webhook that moved is a configuration to fix, not a place to send alerts to).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
import urllib.parse

import httpx

from appliance import __version__
from appliance.delivery.destinations import EgressPolicy, ip_literal, tls_context
from appliance.delivery.errors import DeliveryError

SECRET_PREFIX = "whsec_"
TRANSIENT_STATUSES = {408, 425, 429}
TOLERANCE_SECONDS = 300


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def _key(secret: str) -> bytes:
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def check_secret(secret: str) -> str:
    try:
        if len(_key(secret)) < 16:
            raise ValueError("shorter than 16 bytes")
    except ValueError as error:
        raise ValueError(f"a webhook secret is 'whsec_' followed by base64 of 16 or more bytes ({error})") from error
    return secret


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(_key(secret), signed, hashlib.sha256).digest()).decode()


def verify(secret: str, headers: dict[str, str], body: bytes, now: float | None = None) -> bool:
    """What a receiver checks: a recent timestamp and one matching signature (constant-time)."""
    try:
        timestamp = int(headers["webhook-timestamp"])
        message_id = headers["webhook-id"]
    except (KeyError, ValueError):
        return False
    if abs((time.time() if now is None else now) - timestamp) > TOLERANCE_SECONDS:
        return False
    expected = sign(secret, message_id, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in headers.get("webhook-signature", "").split())


def check_url(url: str) -> str:
    """HTTPS, or plain HTTP to this box's own loopback (a local relay); ValueError says what is wrong."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL with a host")
    if parts.username or parts.password:
        raise ValueError("credentials do not belong in the URL: use the channel's secret")
    address = ip_literal(parts.hostname)
    if parts.scheme == "http" and not (parts.hostname == "localhost" or (address is not None and address.is_loopback)):
        raise ValueError("webhooks go over HTTPS (plain http only to this box's own loopback)")
    return url


def post(
    url: str,
    body: bytes,
    *,
    message_id: str,
    event: str,
    secret: str | None,
    ca_pem: str | None = None,
    timeout: float = 15.0,
) -> int:
    """POST `body`; returns the receiver's status. Raises DeliveryError for anything but 2xx."""
    host = urllib.parse.urlsplit(url).hostname or ""
    EgressPolicy.from_environment().check(host)
    now = int(time.time())
    headers = {
        "Content-Type": "application/json",
        "User-Agent": f"NetSenX-Appliance/{__version__}",
        "webhook-id": message_id,
        "webhook-timestamp": str(now),
        "Idempotency-Key": message_id,
        "X-NetSenX-Event": event,
    }
    if secret:
        headers["webhook-signature"] = sign(secret, message_id, now, body)
    try:
        with httpx.Client(verify=tls_context(ca_pem), timeout=timeout, follow_redirects=False) as client:
            response = client.post(url, content=body, headers=headers)
    except httpx.HTTPError as error:
        raise DeliveryError(f"{host}: {error}") from error
    status = response.status_code
    if 200 <= status < 300:
        return status
    answer = f"{host} answered {status} {response.reason_phrase}: {response.text[:200]}".rstrip(": ")
    if status in TRANSIENT_STATUSES or status >= 500:
        raise DeliveryError(answer, retry_after=_retry_after(response.headers.get("retry-after")))
    if 300 <= status < 400:
        raise DeliveryError(f"{answer} (redirects are not followed: update the channel's URL)", permanent=True)
    raise DeliveryError(answer, permanent=True)


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None  # an HTTP date: the outbox's own back-off applies
