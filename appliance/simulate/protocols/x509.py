"""Server certificates for TLS 1.2 handshakes, where the certificate travels in clear.

Deterministic: the key comes from the name and Ed25519 signatures have no randomness, so the same name
always yields the same DER bytes."""

from __future__ import annotations

import datetime
import hashlib

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

ISSUER = x509.Name(
    [
        x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Corp Example"),
        x509.NameAttribute(NameOID.COMMON_NAME, "Corp Example Issuing CA 01"),
    ]
)
VALID_FROM = datetime.datetime(2026, 1, 5, tzinfo=datetime.UTC)
VALID_UNTIL = datetime.datetime(2027, 1, 5, tzinfo=datetime.UTC)


def server_certificate(name: str) -> bytes:
    digest = hashlib.sha256(name.encode()).digest()
    key = Ed25519PrivateKey.from_private_bytes(digest)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)]))
        .issuer_name(ISSUER)
        .public_key(key.public_key())
        .serial_number(int.from_bytes(digest[:16], "big") >> 1)
        .not_valid_before(VALID_FROM)
        .not_valid_after(VALID_UNTIL)
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .sign(key, None)
    )
    return certificate.public_bytes(Encoding.DER)
