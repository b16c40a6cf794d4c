"""License keys: round trip, and every way a key can be wrong gives the right LicenseError."""

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.licensing.keys import (
    VENDOR_PUBLIC_KEY,
    LicenseFileError,
    LicenseSignatureInvalid,
    MalformedLicense,
    UnknownSigningKey,
    license_file_text,
    load_public_key,
    public_key_text,
    read_license_file,
    trusted_public_keys,
    verify_license,
    verify_license_file,
)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def test_round_trip_keeps_every_field(make_license, vendor_key):
    license, key = make_license(plan="enterprise", features=("reports", "ot_detections"), max_sensors=12)
    assert key.startswith("nsx_")
    assert set(key[4:]) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
    assert verify_license(key, [vendor_key.public_key()]) == license


def test_pasted_key_with_line_breaks_and_spaces_still_verifies(make_license, vendor_key):
    license, key = make_license()
    wrapped = "  " + "\n".join(key[i : i + 60] for i in range(0, len(key), 60)) + " \r\n"
    assert verify_license(wrapped, [vendor_key.public_key()]) == license


def test_second_trusted_key_is_tried(make_license, vendor_key):
    _, key = make_license()
    other = Ed25519PrivateKey.generate().public_key()
    assert verify_license(key, [other, vendor_key.public_key()]).license_id == "lic_test0001"


def test_tampered_payload_is_a_bad_signature(make_license, vendor_key):
    _, key = make_license(max_sensors=3)
    payload, signature = key[4:].split(".")
    claims = json.loads(_unb64(payload))
    claims["max_sensors"] = 300
    forged = f"nsx_{_b64(json.dumps(claims).encode())}.{signature}"
    with pytest.raises(LicenseSignatureInvalid):
        verify_license(forged, [vendor_key.public_key()])


def test_tampered_signature_is_a_bad_signature(make_license, vendor_key):
    _, key = make_license()
    payload, signature = key[4:].split(".")
    flipped = bytearray(_unb64(signature))
    flipped[10] ^= 0x01
    with pytest.raises(LicenseSignatureInvalid):
        verify_license(f"nsx_{payload}.{_b64(bytes(flipped))}", [vendor_key.public_key()])


def test_key_from_another_vendor_key_is_unknown_signer(make_license, vendor_key):
    _, key = make_license(signing_key=Ed25519PrivateKey.generate())
    with pytest.raises(UnknownSigningKey, match="does not trust"):
        verify_license(key, [vendor_key.public_key()])


def test_test_keys_are_not_trusted_by_the_built_in_vendor_key(make_license):
    _, key = make_license()
    with pytest.raises(UnknownSigningKey):
        verify_license(key, trusted_public_keys())


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "hello",
        "nsx_",
        "nsx_abc",
        "nsx_abc.def.ghi",
        "nsx_a+b/c=.AAAA",
        "xyz_eyJhIjoxfQ.AAAA",
        "nsx_eyJhIjoxfQ.AAAA",  # signature too short
        "nsx_A.AAAA",  # impossible base64 length
    ],
)
def test_garbage_is_malformed(garbage, vendor_key):
    with pytest.raises(MalformedLicense):
        verify_license(garbage, [vendor_key.public_key()])


def test_validly_signed_but_unsupported_version_is_refused(make_license, vendor_key):
    _, key = make_license(version=2)
    with pytest.raises(MalformedLicense, match="version 2 needs a newer appliance"):
        verify_license(key, [vendor_key.public_key()])


def test_configured_keys_replace_the_built_in_one(vendor_key, make_license):
    text = public_key_text(vendor_key.public_key())
    _, key = make_license()
    assert verify_license(key, trusted_public_keys([text])).license_id == "lic_test0001"
    assert public_key_text(trusted_public_keys()[0]) == VENDOR_PUBLIC_KEY
    assert public_key_text(load_public_key(text)) == text


def test_license_file_with_comments_loads_like_the_key(tmp_path, make_license, vendor_key):
    license, key = make_license()
    path = tmp_path / "acme.license"
    path.write_text(license_file_text(key, license))
    assert read_license_file(path) == key
    assert verify_license_file(path, [vendor_key.public_key()]) == license


def test_license_file_with_wrapped_key_loads(tmp_path, make_license, vendor_key):
    license, key = make_license()
    path = tmp_path / "wrapped.license"
    path.write_text("# comment\n\n" + "\n".join(key[i : i + 64] for i in range(0, len(key), 64)) + "\n")
    assert verify_license_file(path, [vendor_key.public_key()]) == license


@pytest.mark.parametrize(
    "content", ["# only a comment\n", "", "some text\nnsx_abc.def\n", "nsx_a.b\nnsx_c.d\n", "\xff\xfe"]
)
def test_license_file_without_exactly_one_key_is_refused(tmp_path, content):
    path = tmp_path / "bad.license"
    path.write_bytes(content.encode("latin-1"))
    with pytest.raises(LicenseFileError):
        read_license_file(path)


def test_missing_license_file_is_a_license_file_error(tmp_path, vendor_key):
    with pytest.raises(LicenseFileError, match="cannot read"):
        verify_license_file(tmp_path / "nope.license", [vendor_key.public_key()])
