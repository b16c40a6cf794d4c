"""Real feed servers on loopback for the feed tests: an HTTPS list server (the standard library's, over TLS with a
certificate of a private CA) and a TAXII 2.1 server (medallion, in its own process, over the same TLS)."""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import os
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.conftest import free_port

TAXII_USER, TAXII_PASSWORD = "netsenx", "feed-password"
API_ROOT = "api1"
COLLECTION_ID = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"


@dataclass
class Tls:
    ca_pem: str
    certificate: Path
    key: Path


def private_ca(directory: Path) -> Tls:
    """A CA of the test's own and a server certificate for 127.0.0.1 signed by it."""
    now = dt.datetime.now(dt.UTC)
    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "feed test CA")])
    ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
          .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
          .not_valid_after(now + dt.timedelta(days=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    server = (x509.CertificateBuilder()
              .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
              .issuer_name(ca_name).public_key(server_key.public_key())
              .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
              .not_valid_after(now + dt.timedelta(days=1))
              .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                             critical=False)
              .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
              .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
              .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
              .sign(ca_key, hashes.SHA256()))
    certificate, key = directory / "server.pem", directory / "server.key"
    certificate.write_bytes(server.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(server_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                             serialization.NoEncryption()))
    return Tls(ca.public_bytes(serialization.Encoding.PEM).decode(), certificate, key)


@dataclass
class ListServer:
    """Serves `body` at any path; answers `status`; keeps every request it got (line and headers)."""

    url: str
    body: bytes = b""
    status: int = 200
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)


@contextlib.contextmanager
def https_list_server(tls: Tls) -> Iterator[ListServer]:
    served = ListServer(url="")

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            served.requests.append((self.requestline, dict(self.headers.items())))
            self.send_response(served.status)
            self.send_header("Content-Type", "text/csv")
            self.send_header("Content-Length", str(len(served.body)))
            self.end_headers()
            self.wfile.write(served.body)

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tls.certificate, tls.key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    served.url = f"https://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield served
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def medallion_config(url: str) -> dict:
    return {
        "users": {TAXII_USER: TAXII_PASSWORD},
        "taxii": {"max_page_size": 100},
        "backend": {"module": "medallion.backends.memory_backend", "module_class": "MemoryBackend",
                    "filename": None},
        "data": {
            "/discovery": {"title": "test TAXII server", "default": f"{url}/{API_ROOT}/",
                           "api_roots": [f"{url}/{API_ROOT}/"]},
            API_ROOT: {
                "information": {"title": "indicators", "versions": ["application/taxii+json;version=2.1"],
                                "max_content_length": 10485760},
                "status": [],
                "collections": [{"id": COLLECTION_ID, "title": "Indicators", "can_read": True, "can_write": True,
                                 "media_types": ["application/stix+json;version=2.1"], "objects": [],
                                 "manifest": []}],
            },
        },
    }


SERVE_MEDALLION = """
import json, sys
import medallion
config_path, certificate, key, port = sys.argv[1:]
with open(config_path) as file:
    config = json.load(file)
data_path = config_path + ".data.json"
with open(data_path, "w") as file:
    json.dump(config.pop("data"), file)
config["backend"]["filename"] = data_path
with open(config_path, "w") as file:
    json.dump(config, file)
app = medallion.load_app(config_path)
app.run(host="127.0.0.1", port=int(port), ssl_context=(certificate, key), threaded=True)
"""


@contextlib.contextmanager
def taxii_server(tls: Tls, directory: Path) -> Iterator[str]:
    """medallion serving one empty, writable collection; yields the API root's URL."""
    port = free_port()
    url = f"https://127.0.0.1:{port}"
    config = directory / "medallion.json"
    config.write_text(json.dumps(medallion_config(url)))
    log = (directory / "medallion.log").open("wb")
    process = subprocess.Popen([sys.executable, "-c", SERVE_MEDALLION, str(config), str(tls.certificate),
                                str(tls.key), str(port)], stdout=log, stderr=subprocess.STDOUT,
                               env={**os.environ, "NO_PROXY": "*"})
    try:
        _wait_for(port, process, directory / "medallion.log")
        yield f"{url}/{API_ROOT}/"
    finally:
        process.terminate()
        process.wait(timeout=15)
        log.close()


def _wait_for(port: int, process: subprocess.Popen, log: Path) -> None:
    import socket

    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"medallion exited: {log.read_text()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return
        time.sleep(0.1)
    raise RuntimeError("medallion did not start within 30 s")
