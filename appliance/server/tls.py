"""HTTPS: the self-signed certificate the box serves until the admin installs their own, and HSTS."""

from __future__ import annotations

import datetime
import ipaddress
import socket

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from litestar.types import Message, Scope

from appliance.store.data_dir import DataDirectory, write_private_file

VALID_DAYS = 825  # the longest validity browsers accept for a server certificate
# A browser that reached the box over HTTPS never tries plain HTTP to it for a year (RFC 6797).
STRICT_TRANSPORT_SECURITY = (b"strict-transport-security", b"max-age=31536000")


async def add_strict_transport_security(message: Message, scope: Scope) -> None:
    """A `before_send` hook: HSTS on every response sent over HTTPS (never over plain HTTP, where it means
    nothing and the loopback-only --http mode would only be confused by it)."""
    if message["type"] == "http.response.start" and scope.get("scheme") == "https":
        message["headers"] = [*message.get("headers", []), STRICT_TRANSPORT_SECURITY]


def create_self_signed_certificate(data_dir: DataDirectory, now: datetime.datetime | None = None) -> None:
    now = now or datetime.datetime.now(datetime.UTC)
    hostname = socket.gethostname()
    private_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, hostname),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "NetSenX Appliance"),
        ]
    )
    alternative_names = [
        x509.DNSName(hostname),
        x509.DNSName("localhost"),
        x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
        x509.IPAddress(ipaddress.ip_address("::1")),
    ]
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(private_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(alternative_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(private_key, hashes.SHA256())
    )
    write_private_file(
        data_dir.certificate_key,
        private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )
    write_private_file(data_dir.certificate, certificate.public_bytes(serialization.Encoding.PEM))
