"""``appliance-licensing``: the vendor's tool to make keys, mint and revoke licenses, and run the service.

    appliance-licensing keygen --out vendor.pem
    appliance-licensing mint --plan professional --days 365 --sensors 5 --customer "ACME SL" \\
        --signing-key vendor.pem [--features reports siem_export] [--out acme.license]
    appliance-licensing revoke lic_… --db licensing.sqlite
    appliance-licensing serve --host 127.0.0.1 --port 8400 --signing-key vendor.pem --db licensing.sqlite \\
        --stripe-api-key sk_… --stripe-webhook-secret whsec_… [--stripe-api-base URL]

Stripe secrets may come from STRIPE_API_KEY / STRIPE_WEBHOOK_SECRET instead of the command line.
Errors are one line on stderr and a non-zero exit.
"""

import argparse
import os
import socket
import sqlite3
import sys
import time
from pathlib import Path

import msgspec
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from appliance.licensing.keys import key_id, license_file_text, public_key_text, verify_license
from appliance.licensing.plans import PLANS
from vendor_cloud.licensing.service import LicensingService, ServiceConfig, mint_new_license
from vendor_cloud.licensing.store import VendorStore
from vendor_cloud.licensing.stripe_billing import StripeBilling

# Granian workers are separate processes: `serve` hands them its settings through this variable.
SERVE_SETTINGS_ENV = "NSX_LICENSING_SERVE_SETTINGS"


class CliError(Exception):
    pass


class _OneLineErrorParser(argparse.ArgumentParser):
    """Usage mistakes as one line on stderr (argparse would print the whole usage first)."""

    def error(self, message: str):  # type: ignore[override]
        self.exit(2, f"{self.prog}: {message} (see --help)\n")


class ServeSettings(msgspec.Struct, frozen=True):
    signing_key: str
    db: str
    stripe_api_key: str
    stripe_webhook_secret: str
    stripe_api_base: str
    stripe_max_retries: int
    service: ServiceConfig


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return args.run(args)
    except CliError as err:
        print(f"appliance-licensing: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


def keygen(args: argparse.Namespace) -> int:
    out = Path(args.out)
    signing_key = Ed25519PrivateKey.generate()
    pem = signing_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    try:
        fd = os.open(out, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as err:
        raise CliError(
            f"cannot create {out}: {err.strerror} (an existing key is never overwritten)"
        ) from None
    with os.fdopen(fd, "wb") as private_file:
        private_file.write(pem)
    public = public_key_text(signing_key.public_key())
    Path(f"{out}.pub").write_text(public + "\n")
    print(f"{public}  (key id {key_id(signing_key.public_key())}; public key also in {out}.pub)")
    return 0


def mint(args: argparse.Namespace) -> int:
    signing_key = _load_signing_key(args.signing_key)
    features = tuple(f for chunk in args.features for f in chunk.split(",") if f) if args.features else None
    try:
        key = mint_new_license(
            signing_key, args.customer, args.plan, args.days, args.sensors, features, int(time.time())
        )
    except ValueError as err:
        raise CliError(str(err)) from None
    if args.out:
        license = verify_license(key, [signing_key.public_key()])
        _write(Path(args.out), license_file_text(key, license))
    print(key)
    return 0


def revoke(args: argparse.Namespace) -> int:
    _open_store(args.db).revoke(args.license_id, int(time.time()))
    print(f"revoked {args.license_id}; boxes learn it at their next heartbeat")
    return 0


def serve(args: argparse.Namespace) -> int:
    from granian import Granian
    from granian.constants import Interfaces

    settings = ServeSettings(
        signing_key=str(Path(args.signing_key).resolve()),
        db=str(Path(args.db).resolve()),
        stripe_api_key=_required(args.stripe_api_key, "--stripe-api-key or STRIPE_API_KEY"),
        stripe_webhook_secret=_required(
            args.stripe_webhook_secret, "--stripe-webhook-secret or STRIPE_WEBHOOK_SECRET"
        ),
        stripe_api_base=args.stripe_api_base,
        stripe_max_retries=args.stripe_max_retries,
        service=ServiceConfig(
            default_return_url=args.return_url,
            latest_sensor_version=args.latest_sensor_version,
            latest_appliance_version=args.latest_appliance_version,
        ),
    )
    # Fail here, with one line, rather than inside a worker with a traceback.
    _load_signing_key(settings.signing_key)
    _open_store(settings.db)
    _check_can_listen(args.host, args.port)
    os.environ[SERVE_SETTINGS_ENV] = msgspec.json.encode(settings).decode()
    Granian(
        target=f"{__name__}:app_from_environment",
        factory=True,
        address=args.host,
        port=args.port,
        interface=Interfaces.ASGI,
        workers=1,
        log_access=False,
    ).serve()
    return 0


def app_from_environment():
    """Granian's factory: build the app in the worker from the settings `serve` left in the environment."""
    from vendor_cloud.licensing.app import create_app

    settings = msgspec.json.decode(os.environ[SERVE_SETTINGS_ENV], type=ServeSettings)
    service = LicensingService(
        signing_key=_load_signing_key(settings.signing_key),
        store=VendorStore(Path(settings.db)),
        billing=StripeBilling(settings.stripe_api_key, settings.stripe_api_base, settings.stripe_max_retries),
        config=settings.service,
    )
    return create_app(service, settings.stripe_webhook_secret)


def _parser() -> argparse.ArgumentParser:
    parser = _OneLineErrorParser(prog="appliance-licensing", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    p = commands.add_parser("keygen", help="create the vendor Ed25519 signing key")
    p.add_argument("--out", required=True, help="private key file (PEM, mode 0600); public key in OUT.pub")
    p.set_defaults(run=keygen)

    p = commands.add_parser("mint", help="mint a new license and print its key")
    p.add_argument("--plan", required=True, choices=PLANS)
    p.add_argument("--days", required=True, type=int)
    p.add_argument("--sensors", required=True, type=int)
    p.add_argument("--customer", required=True)
    p.add_argument("--features", nargs="+", help="features (space or comma separated); default: the plan's")
    p.add_argument("--signing-key", required=True)
    p.add_argument("--out", help="also write a license file for air-gapped boxes")
    p.set_defaults(run=mint)

    p = commands.add_parser("revoke", help="revoke a license")
    p.add_argument("license_id")
    p.add_argument("--db", required=True)
    p.set_defaults(run=revoke)

    p = commands.add_parser("serve", help="run the licensing service")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8400)
    p.add_argument("--signing-key", required=True)
    p.add_argument("--db", required=True)
    p.add_argument("--stripe-api-key", default=os.environ.get("STRIPE_API_KEY"))
    p.add_argument("--stripe-webhook-secret", default=os.environ.get("STRIPE_WEBHOOK_SECRET"))
    p.add_argument("--stripe-api-base", default="https://api.stripe.com")
    p.add_argument("--stripe-max-retries", type=int, default=2)
    defaults = ServiceConfig()
    p.add_argument("--return-url", default=defaults.default_return_url)
    p.add_argument("--latest-sensor-version", default=defaults.latest_sensor_version)
    p.add_argument("--latest-appliance-version", default=defaults.latest_appliance_version)
    p.set_defaults(run=serve)
    return parser


def _load_signing_key(path: str) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as err:
        raise CliError(f"cannot load signing key {path}: {err}") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise CliError(f"{path} is not an Ed25519 private key")
    return key


def _open_store(path: str) -> VendorStore:
    try:
        return VendorStore(Path(path))
    except (OSError, sqlite3.Error) as err:
        raise CliError(f"cannot open licensing database {path}: {err}") from None


def _write(path: Path, text: str) -> None:
    try:
        path.write_text(text)
    except OSError as err:
        raise CliError(f"cannot write {path}: {err.strerror}") from None


def _check_can_listen(host: str, port: int) -> None:
    """Granian answers a busy port with a Rust panic and backtrace; say it in one line instead."""
    try:
        with socket.create_server((host, port), reuse_port=False):
            pass
    except OSError as err:
        raise CliError(f"cannot listen on {host}:{port}: {err.strerror or err}") from None


def _required(value: str | None, what: str) -> str:
    if not value:
        raise CliError(f"missing {what}")
    return value


if __name__ == "__main__":
    sys.exit(main())
