"""`appliance demo`: a ready box on this machine, for a first look."""

from __future__ import annotations

import argparse
import secrets

from appliance.api.tls import create_self_signed_certificate
from appliance.auth import users
from appliance.cli import serve_command
from appliance.store import lifecycle
from appliance.store.data_dir import DataDirectory, write_private_file
from appliance.store.database import Store

DEMO_ADMIN = "admin"


def register(subparsers) -> None:
    demo = subparsers.add_parser("demo", help="initialise a demo box (if needed) and serve it")
    demo.add_argument("--data-dir", default="var/demo")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8443)
    demo.set_defaults(run=run_demo)


def initialise_demo(data_dir: DataDirectory) -> str:
    """Create the demo box once; the admin password is kept beside it (owner-readable only)."""
    password_file = data_dir.root / "admin-password.txt"
    if data_dir.is_initialised():
        return password_file.read_text().strip()
    password = secrets.token_urlsafe(12)
    key = lifecycle.create_database(data_dir)
    store = Store(data_dir, key)
    try:
        users.create_user(store, DEMO_ADMIN, password, "admin")
    finally:
        store.close()
    create_self_signed_certificate(data_dir)
    write_private_file(password_file, password.encode() + b"\n")
    return password


def run_demo(args) -> int:
    data_dir = DataDirectory.at(args.data_dir)
    password = initialise_demo(data_dir)
    print(f"NetSenX demo box: https://{args.host}:{args.port}/api/v1/health")
    print(f"  log in as {DEMO_ADMIN!r} with password {password!r} (also in {data_dir.root}/admin-password.txt)")
    print(f"  API description: https://{args.host}:{args.port}/api/v1/schema")
    serve_args = argparse.Namespace(
        data_dir=str(data_dir.root),
        host=args.host,
        port=args.port,
        workers=2,
        http=False,
        passphrase_file=None,
        access_log=False,
    )
    return serve_command.run_serve(serve_args)
