"""Real receivers on loopback for the box's outgoing messages: a test CA, an SMTP server (aiosmtpd, STARTTLS
or implicit TLS, with a login), an HTTPS webhook receiver that checks the Standard Webhooks signature, and
rsyslog (Debian's) receiving RFC 5424 over TCP and TLS."""

from __future__ import annotations

import contextlib
import datetime
import http.server
import ipaddress
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from appliance.delivery import webhook
from tests.conftest import free_port

SMTP_USER, SMTP_PASSWORD = "netsenx-box", "mail server password 42"


@dataclass
class LoopbackCa:
    ca_pem: str
    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca(directory: Path) -> LoopbackCa:
    """A CA of the test's own and a certificate it signed for localhost and 127.0.0.1."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key, server_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(_name("NetSenX test CA")).issuer_name(_name("NetSenX test CA"))
          .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
          .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=2))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                       content_commitment=False, key_encipherment=False, data_encipherment=False,
                                       key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
          .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
          .sign(ca_key, hashes.SHA256()))
    server = (x509.CertificateBuilder().subject_name(_name("localhost")).issuer_name(ca.subject)
              .public_key(server_key.public_key()).serial_number(x509.random_serial_number())
              .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=2))
              .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                          x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                             critical=False)
              .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
              .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
              .sign(ca_key, hashes.SHA256()))
    directory.mkdir(parents=True, exist_ok=True)
    cert_file, key_file = directory / "server.pem", directory / "server.key"
    cert_file.write_bytes(server.public_bytes(serialization.Encoding.PEM) + ca.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(server_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.NoEncryption()))
    ca_file = directory / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    return LoopbackCa(ca_file.read_text(), ca_file, cert_file, key_file)


# --- SMTP -------------------------------------------------------------------------------------------------

@dataclass
class Mailbox:
    """What the SMTP server received: (mail from, recipients, the raw message, whether it came over TLS)."""

    received: list[tuple[str, list[str], bytes, bool]] = field(default_factory=list)
    logins: list[str] = field(default_factory=list)
    hold: threading.Event | None = None  # set: answer DATA at once; cleared: hold the 250 (a crash test)
    arrived: threading.Event = field(default_factory=threading.Event)

    async def handle_DATA(self, server, session, envelope):
        self.received.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content or
                              envelope.content, server.transport.get_extra_info("ssl_object") is not None))
        self.arrived.set()
        while self.hold is not None and not self.hold.is_set():
            await _sleep(0.05)
        return "250 OK queued"

    def authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        good = isinstance(auth_data, LoginPassword) and (auth_data.login.decode(), auth_data.password.decode()) == (
            SMTP_USER, SMTP_PASSWORD)
        if good:
            self.logins.append(auth_data.login.decode())
        return AuthResult(success=good, handled=False)


async def _sleep(seconds: float) -> None:
    import asyncio

    await asyncio.sleep(seconds)


class _ImplicitTlsController(Controller):
    """aiosmtpd's controller checks itself with a plain connection; over implicit TLS that check needs TLS."""

    def _trigger_server(self):
        with contextlib.ExitStack() as stack:
            raw = stack.enter_context(socket.create_connection((self.hostname, self.port), 1.0))
            context = ssl.create_default_context()
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
            stack.enter_context(context.wrap_socket(raw)).recv(1024)


@contextlib.contextmanager
def smtp_server(ca: LoopbackCa, *, implicit_tls: bool):
    """An SMTP server on loopback that requires a login, over STARTTLS (required) or implicit TLS."""
    mailbox = Mailbox()
    options = {"authenticator": mailbox.authenticate, "auth_required": True}
    if implicit_tls:
        # The connection is TLS from its first byte: aiosmtpd, which only counts STARTTLS as TLS, may offer AUTH.
        controller = _ImplicitTlsController(mailbox, hostname="127.0.0.1", port=free_port(),
                                            ssl_context=ca.server_context(), auth_require_tls=False, **options)
    else:
        controller = Controller(mailbox, hostname="127.0.0.1", port=free_port(), tls_context=ca.server_context(),
                                require_starttls=True, **options)
    controller.start()
    try:
        yield controller.port, mailbox
    finally:
        if mailbox.hold is not None:
            mailbox.hold.set()
        controller.stop()


# --- webhooks ---------------------------------------------------------------------------------------------

@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes
    verified: bool

    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """An HTTPS receiver. `answers`: statuses to give to the next requests in turn (then 200); "hang" waits
    for `release` before answering (a box killed meanwhile never hears back)."""

    secret: str | None = None
    deliveries: list[Delivery] = field(default_factory=list)
    answers: list[object] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    arrived: threading.Event = field(default_factory=threading.Event)
    port: int = 0

    def url(self, path: str = "/hook") -> str:
        return f"https://127.0.0.1:{self.port}{path}"

    def handler(self):
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                headers = {name.lower(): value for name, value in self.headers.items()}
                verified = receiver.secret is not None and webhook.verify(receiver.secret, headers, body)
                receiver.deliveries.append(Delivery(self.path, headers, body, verified))
                receiver.arrived.set()
                answer = receiver.answers.pop(0) if receiver.answers else 200
                if answer == "hang":
                    receiver.release.wait(60)
                    answer = 200
                self.send_response(int(answer))
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        return Handler


@contextlib.contextmanager
def webhook_receiver(ca: LoopbackCa, secret: str | None = None):
    receiver = WebhookReceiver(secret=secret)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), receiver.handler())
    server.daemon_threads = True
    server.socket = ca.server_context().wrap_socket(server.socket, server_side=True)
    receiver.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        receiver.release.set()
        server.shutdown()
        server.server_close()


# --- rsyslog ----------------------------------------------------------------------------------------------

RSYSLOG_CONF = """
global(workDirectory="{work}" maxMessageSize="256k"
       defaultNetstreamDriver="ossl" defaultNetstreamDriverCAFile="{ca}"
       defaultNetstreamDriverCertFile="{cert}" defaultNetstreamDriverKeyFile="{key}")
module(load="imtcp" streamDriver.name="ossl" streamDriver.mode="1" streamDriver.authMode="anon")
input(type="imtcp" port="{tls_port}" name="tls")
module(load="imptcp")
input(type="imptcp" port="{tcp_port}" address="127.0.0.1" name="tcp")
module(load="mmjsonparse")
template(name="received" type="list") {{
  property(name="inputname") constant(value=" ")
  property(name="msgid") constant(value=" ")
  property(name="syslogseverity") constant(value=" ")
  property(name="hostname") constant(value=" ")
  property(name="structured-data") constant(value=" ")
  property(name="msg" droplastlf="on") constant(value="\\n")
}}
template(name="parsed" type="list") {{ property(name="$!all-json") constant(value="\\n") }}
action(type="omfile" file="{out}" template="received")
if $msgid == "EVE" or $msgid == "ECS" then {{
  action(type="mmjsonparse" cookie="" useRawMsg="off")
  if $parsesuccess == "OK" then action(type="omfile" file="{parsed}" template="parsed")
}}
"""


@dataclass
class Rsyslog:
    tcp_port: int
    tls_port: int
    out: Path
    parsed: Path

    def lines(self) -> list[str]:
        return self.out.read_text(errors="replace").splitlines() if self.out.exists() else []

    def parsed_documents(self) -> list[dict]:
        return [json.loads(line) for line in self.parsed.read_text().splitlines()] if self.parsed.exists() else []

    def wait_for(self, count: int, timeout: float = 60.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.lines()) < count:
            time.sleep(0.1)
        return self.lines()


def rsyslogd() -> str:
    path = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
    if not Path(path).exists():
        pytest.fail("rsyslogd is missing: run `just system-packages` (Debian packages rsyslog, rsyslog-openssl)")
    return path


@contextlib.contextmanager
def rsyslog_receiver(ca: LoopbackCa, directory: Path):
    """rsyslogd in the foreground with a configuration of its own, receiving on loopback only."""
    directory.mkdir(parents=True, exist_ok=True)
    receiver = Rsyslog(free_port(), free_port(), directory / "received.log", directory / "parsed.jsonl")
    config = directory / "rsyslog.conf"
    config.write_text(RSYSLOG_CONF.format(work=directory, ca=ca.ca_file, cert=ca.cert_file,
                                          key=ca.key_file, tls_port=receiver.tls_port, tcp_port=receiver.tcp_port,
                                          out=receiver.out, parsed=receiver.parsed))
    log = open(directory / "rsyslogd.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen([rsyslogd(), "-n", "-f", str(config), "-i", str(directory / "rsyslogd.pid")],
                               stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_listening(process, [receiver.tcp_port, receiver.tls_port], directory / "rsyslogd.log")
        yield receiver
    finally:
        end_process(process)
        log.close()


def end_process(process: subprocess.Popen, timeout: float = 20) -> None:
    """SIGTERM, and SIGKILL if it does not go within `timeout`."""
    process.terminate()
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=timeout)
    if process.poll() is None:
        process.kill()
        process.wait()


def _wait_listening(process: subprocess.Popen, ports: list[int], log: Path) -> None:
    deadline = time.monotonic() + 30
    waiting = list(ports)
    while waiting and time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"rsyslogd exited: {log.read_text()}")
        try:
            with socket.create_connection(("127.0.0.1", waiting[0]), timeout=0.2):
                waiting.pop(0)
        except OSError:
            time.sleep(0.1)
    if waiting:
        raise RuntimeError(f"rsyslogd does not listen on {waiting}: {log.read_text()}")
