"""License keys: format, signing, offline verification, license files.

Format (version 1)::

    nsx_<payload>.<signature>

- ``payload``: base64url, *without* ``=`` padding, of the license as compact JSON (msgspec encoding of
  `License`, fields in declaration order). JSON rather than msgpack so that support staff can decode a
  key with any tool; the signature covers these exact bytes, so nobody ever needs to re-encode them.
- ``signature``: base64url, without padding, of the 64-byte Ed25519 signature of
  ``SIGNING_CONTEXT + payload_bytes``. The context prefix keeps a license signature from ever being
  valid as another kind of vendor signature (update bundles, …) and vice versa.

The alphabet is ``A-Z a-z 0-9 - _ .`` plus the ``nsx_`` prefix: no padding, no ``+`` or ``/``, safe in
URLs, JSON, shells and e-mails. Whitespace anywhere in a pasted key is ignored, so a key wrapped by a
mail client still loads.

The payload carries ``key_id`` (first 8 bytes of SHA-256 of the raw vendor public key, hex) so that a
key signed by a vendor key the box does not trust is reported as such, not as a forged signature.
"""

import base64
import hashlib
import re
from pathlib import Path
from typing import Annotated

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from appliance.licensing.plans import Plan

KEY_PREFIX = "nsx_"
SIGNING_CONTEXT = b"netsenx-license-v1\x00"
FORMAT_VERSION = 1

# The vendor's production public key (raw 32 bytes, base64url). Boxes trust it unless their configuration
# names other keys (tests, key rotation). The private half never enters this repository.
VENDOR_PUBLIC_KEY = "dBjoeqxQoEIBTYU5WXJJAkHeFtCclRLbo00kTsr5Q4M"


class LicenseError(Exception):
    """A license key or file the box cannot accept. ``str(err)`` is a message for the admin."""


class MalformedLicense(LicenseError):
    """Not a license key at all: wrong prefix, bad base64, wrong lengths, unreadable payload."""


class LicenseSignatureInvalid(LicenseError):
    """Well-formed, but the signature does not match the payload (tampered or corrupted key)."""


class UnknownSigningKey(LicenseError):
    """Signed by a vendor key this box does not trust (wrong vendor, or a key it was not configured with)."""


class LicenseFileError(LicenseError):
    """A license file that cannot be read or does not hold exactly one key."""


class License(msgspec.Struct, frozen=True):
    """The signed content of a license key. Times are Unix seconds (UTC)."""

    license_id: str
    customer: str
    plan: Plan
    features: tuple[str, ...]
    max_sensors: Annotated[int, msgspec.Meta(ge=0)]
    issued_at: int
    expires_at: int
    key_id: str
    version: int = FORMAT_VERSION


class _KeyIdOnly(msgspec.Struct):
    key_id: str = ""


_BASE64URL = re.compile(r"[A-Za-z0-9_-]+")


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).digest()[:8].hex()


def encode_license(license: License, signing_key: Ed25519PrivateKey) -> str:
    """Sign ``license`` and return its key. Used by the vendor only (the box never holds a signing key)."""
    if license.key_id != key_id(signing_key.public_key()):
        raise ValueError("license.key_id does not belong to the signing key")
    payload = msgspec.json.encode(license)
    signature = signing_key.sign(SIGNING_CONTEXT + payload)
    return f"{KEY_PREFIX}{_b64encode(payload)}.{_b64encode(signature)}"


def verify_license(key: str, public_keys: list[Ed25519PublicKey]) -> License:
    """Return the license in ``key`` if one of ``public_keys`` signed it; raise a `LicenseError` otherwise.

    Expiry is NOT checked here: an expired license is still a valid license (see `state.license_state`).
    """
    payload, signature = _split_key(key)
    for public_key in public_keys:
        try:
            public_key.verify(signature, SIGNING_CONTEXT + payload)
        except InvalidSignature:
            continue
        return _decode_payload(payload)
    raise _why_no_key_verified(payload, public_keys)


def load_public_key(text: str) -> Ed25519PublicKey:
    """A vendor public key from configuration: raw base64url (as `VENDOR_PUBLIC_KEY`) or a PEM block."""
    text = text.strip()
    try:
        if text.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(text.encode())
            if not isinstance(key, Ed25519PublicKey):
                raise ValueError("not an Ed25519 key")
            return key
        return Ed25519PublicKey.from_public_bytes(_b64decode(text))
    except ValueError as err:
        raise LicenseError(f"invalid vendor public key: {err}") from None


def public_key_text(public_key: Ed25519PublicKey) -> str:
    """The configuration form of a vendor public key (raw base64url, as `VENDOR_PUBLIC_KEY`)."""
    return _b64encode(public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw))


def trusted_public_keys(configured: list[str] | None = None) -> list[Ed25519PublicKey]:
    """The vendor keys the box trusts: the configured ones if any (they replace the built-in key)."""
    return [load_public_key(text) for text in (configured or [VENDOR_PUBLIC_KEY])]


def read_license_file(path: Path) -> str:
    """The key in a license file: one ``nsx_…`` key, plus blank lines and ``#`` comment lines.

    A key wrapped over several consecutive lines is joined back together.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise LicenseFileError(f"cannot read license file {path}: {err}") from None
    lines = [line.strip() for line in text.splitlines()]
    content = [line for line in lines if line and not line.startswith("#")]
    starts = [line for line in content if line.startswith(KEY_PREFIX)]
    if len(starts) != 1 or not content[0].startswith(KEY_PREFIX):
        raise LicenseFileError(f"license file {path} must hold exactly one {KEY_PREFIX}… key")
    return "".join(content)


def verify_license_file(path: Path, public_keys: list[Ed25519PublicKey]) -> License:
    return verify_license(read_license_file(path), public_keys)


def license_file_text(key: str, license: License) -> str:
    """The content of a license file for ``key``, with comments an admin can read."""
    return (
        f"# NetSenX license {license.license_id} for {license.customer}\n"
        f"# plan {license.plan}, up to {license.max_sensors} sensors, expires at {license.expires_at} (Unix)\n"
        "# Load it on the box's first-boot page or under Settings > License.\n"
        f"{key}\n"
    )


def _split_key(key: str) -> tuple[bytes, bytes]:
    compact = "".join(key.split())
    if not compact.startswith(KEY_PREFIX):
        raise MalformedLicense(f"a license key starts with '{KEY_PREFIX}'")
    parts = compact[len(KEY_PREFIX) :].split(".")
    if len(parts) != 2 or not all(_BASE64URL.fullmatch(part) for part in parts):
        raise MalformedLicense("a license key is nsx_<payload>.<signature> in base64url")
    try:
        payload, signature = _b64decode(parts[0]), _b64decode(parts[1])
    except ValueError:
        raise MalformedLicense("the license key is truncated or corrupted (bad base64url)") from None
    if len(signature) != 64:
        raise MalformedLicense("the license key is truncated or corrupted (signature length)")
    return payload, signature


def _decode_payload(payload: bytes) -> License:
    try:
        license = msgspec.json.decode(payload, type=License)
    except msgspec.DecodeError as err:
        raise MalformedLicense(f"unreadable license payload: {err}") from None
    if license.version != FORMAT_VERSION:
        raise MalformedLicense(f"license format version {license.version} needs a newer appliance")
    return license


def _why_no_key_verified(payload: bytes, public_keys: list[Ed25519PublicKey]) -> LicenseError:
    try:
        claimed = msgspec.json.decode(payload, type=_KeyIdOnly).key_id
    except msgspec.DecodeError:
        return LicenseSignatureInvalid("the license key signature does not match its content")
    if claimed not in {key_id(public_key) for public_key in public_keys}:
        return UnknownSigningKey(
            f"the license key was signed by vendor key {claimed or '?'}, which this box does not trust"
        )
    return LicenseSignatureInvalid("the license key signature does not match its content (tampered?)")


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.b64decode(padded, altchars=b"-_", validate=True)
    except (ValueError, TypeError) as err:
        raise ValueError(f"bad base64url: {err}") from None
