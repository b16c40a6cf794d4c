"""The box's cloud client against the real licensing service (Granian process started through the
``appliance-licensing`` CLI) and the fake Stripe, all on loopback."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import msgspec
import pytest

from appliance.licensing import cloud_client
from appliance.licensing.cloud_client import CloudLink, CloudRejected, CloudUnavailable
from appliance.licensing.keys import load_public_key, verify_license_file
from appliance.licensing.protocol import HeartbeatReply, UpdateInfo
from appliance.licensing.sovereignty import CloudHeartbeat, describe_payload, heartbeat_payload
from tests.licensing.fake_stripe import API_KEY, WEBHOOK_SECRET, FakeStripe, signature_header, stripe_error

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
CLI = [sys.executable, "-m", "vendor_cloud.licensing.cli"]


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*CLI, *args], check=False, cwd=REPO, capture_output=True, text=True, timeout=30)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_listening(port: int, process: subprocess.Popen, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"service exited early: {process.stderr.read()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError("service did not start listening")


@pytest.fixture(scope="module")
def fake_stripe_module():
    with FakeStripe() as fake:
        yield fake


@pytest.fixture(scope="module")
def service(tmp_path_factory, fake_stripe_module):
    """``appliance-licensing keygen``, ``mint --out`` and ``serve`` for real; yields (url, dir)."""
    workdir = tmp_path_factory.mktemp("vendor")
    assert _cli("keygen", "--out", str(workdir / "vendor.pem")).returncode == 0
    port = _free_port()
    process = subprocess.Popen(
        [
            *CLI,
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--signing-key",
            str(workdir / "vendor.pem"),
            "--db",
            str(workdir / "licensing.sqlite"),
            "--stripe-api-key",
            API_KEY,
            "--stripe-webhook-secret",
            WEBHOOK_SECRET,
            "--stripe-api-base",
            fake_stripe_module.url,
            "--stripe-max-retries",
            "0",
            "--latest-appliance-version",
            "2.2.0",
        ],
        cwd=REPO,
        env=os.environ | {"NO_PROXY": "127.0.0.1"},  # the fake Stripe is on loopback, never via a proxy
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        _wait_listening(port, process)
        yield f"http://127.0.0.1:{port}", workdir
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def _mint(workdir: Path, name: str, plan: str = "professional") -> tuple[CloudLink, object]:
    license_file = workdir / f"{name}.license"
    minted = _cli(
        "mint", "--plan", plan, "--days", "30", "--sensors", "4", "--customer", f"{name} SL",
        "--signing-key", str(workdir / "vendor.pem"), "--out", str(license_file),
    )  # fmt: skip
    assert minted.returncode == 0, minted.stderr
    public_key = load_public_key((workdir / "vendor.pem.pub").read_text())
    license = verify_license_file(license_file, [public_key])
    assert minted.stdout.strip() == license_file.read_text().splitlines()[-1]
    return CloudLink(base_url="", license_key=minted.stdout.strip(), license_id=license.license_id), license


def _link(service, name: str, plan: str = "professional") -> CloudLink:
    url, workdir = service
    link, _ = _mint(workdir, name, plan)
    return msgspec.structs.replace(link, base_url=url)


def _payload(link: CloudLink) -> CloudHeartbeat:
    return heartbeat_payload(
        link.license_id, "box-1", "2.1.0", "1.3.0", sensors=1, alerts_24h=3, flows_24h=10
    )


def test_heartbeat_reaches_the_real_service(service):
    link = _link(service, "heartbeat")
    reply = cloud_client.heartbeat(link, _payload(link))
    assert (reply.license_id, reply.revoked, reply.license_key) == (link.license_id, False, None)
    assert reply.update.latest_appliance_version == "2.2.0"


def test_billing_calls_and_a_signed_webhook_through_the_real_service(service, fake_stripe_module):
    link = _link(service, "billing", plan="starter")
    assert cloud_client.subscription(link).status == "none"
    with pytest.raises(CloudRejected) as no_account:
        cloud_client.portal(link)
    assert no_account.value.status_code == 404

    session = cloud_client.checkout(link, "enterprise", "annual", return_url="https://box.local/billing")
    assert session.url.startswith("https://checkout.stripe.com/")
    assert cloud_client.portal(link).url.startswith("https://billing.stripe.com/")

    session_id = session.url.rsplit("/", 1)[1]
    completed, _, _ = fake_stripe_module.complete_checkout(session_id, int(time.time()), 365)
    payload = fake_stripe_module.event("checkout.session.completed", completed)
    response = httpx.post(
        f"{link.base_url}/v1/stripe/webhook",
        content=payload,
        headers={"Stripe-Signature": signature_header(payload)},
    )
    assert response.status_code == 200
    info = cloud_client.subscription(link)
    assert (info.plan, info.status, info.billing_cycle) == ("enterprise", "active", "annual")
    assert cloud_client.heartbeat(link, _payload(link)).license_key is not None


@pytest.mark.parametrize(
    ("failure", "phrase"),
    [
        (stripe_error(500, "api_error", "Something went wrong on Stripe's end."), "HTTP 500"),
        (stripe_error(402, "card_error", "Your card was declined.", "card_declined"), "card_declined"),
    ],
)
def test_stripe_failure_reaches_the_box_as_cloud_unavailable(service, fake_stripe_module, failure, phrase):
    link = _link(service, f"failing{failure[0]}")
    fake_stripe_module.failure = failure
    try:
        with pytest.raises(CloudUnavailable) as err:
            cloud_client.checkout(link, "professional", "monthly")
    finally:
        fake_stripe_module.failure = None
    assert err.value.status_code == 502
    assert (
        err.value.detail.startswith("licensing service error: Stripe refused") and phrase in err.value.detail
    )


def test_revoke_from_the_cli_reaches_the_box(service):
    link = _link(service, "revoked")
    _, workdir = service
    revoked = _cli("revoke", link.license_id, "--db", str(workdir / "licensing.sqlite"))
    assert revoked.returncode == 0, revoked.stderr
    assert cloud_client.heartbeat(link, _payload(link)).revoked
    with pytest.raises(CloudRejected) as err:
        cloud_client.checkout(link, "professional", "monthly")
    assert err.value.status_code == 403


def test_heartbeat_retries_with_exponential_back_off_then_gives_up():
    link = CloudLink(base_url=f"http://127.0.0.1:{_free_port()}", license_key="nsx_x.y", license_id="lic_x")
    sleeps: list[float] = []
    with pytest.raises(CloudUnavailable, match="unreachable"):
        cloud_client.heartbeat(link, _payload(link), attempts=4, sleep=sleeps.append)
    assert sleeps == [1.0, 2.0, 4.0]


def test_heartbeat_retries_a_failing_service_until_it_answers():
    """A loopback service that answers 503 twice, then a proper reply: the third attempt wins."""
    answers = [(503, b'{"detail": "starting"}'), (503, b"oops"), (200, _reply_json("lic_x"))]

    class Flaky(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            status, body = answers.pop(0)
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args) -> None:
            pass

    with ThreadingHTTPServer(("127.0.0.1", 0), Flaky) as server:
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.start()
        try:
            link = CloudLink(f"http://127.0.0.1:{server.server_address[1]}", "nsx_x.y", "lic_x")
            sleeps: list[float] = []
            reply = cloud_client.heartbeat(link, _payload(link), sleep=sleeps.append)
        finally:
            server.shutdown()
            thread.join()
    assert (reply.license_id, sleeps, answers) == ("lic_x", [1.0, 2.0], [])


def _reply_json(license_id: str) -> bytes:
    update = UpdateInfo(latest_sensor_version="1.0.0", latest_appliance_version="1.0.0")
    return msgspec.json.encode(HeartbeatReply(license_id, revoked=False, license_key=None, update=update))


def test_the_admin_sees_every_field_that_leaves_the_box():
    payload = heartbeat_payload("lic_1", "box-1", "2.1.0", "1.3.0", sensors=2, alerts_24h=5, flows_24h=900)
    rows = describe_payload(payload)
    assert [row["field"] for row in rows] == list(msgspec.json.decode(_flatten_keys(payload)))
    assert all(row["meaning"] for row in rows)


def _flatten_keys(payload: CloudHeartbeat) -> bytes:
    """The wire JSON's leaf fields, dotted, in order: what describe_payload must cover exactly."""
    wire = msgspec.json.decode(msgspec.json.encode(payload))
    leaves = {f"{k}.{sub}": None for k, v in wire.items() if isinstance(v, dict) for sub in v}
    leaves = {k: None for k, v in wire.items() if not isinstance(v, dict)} | leaves
    return msgspec.json.encode(leaves)
