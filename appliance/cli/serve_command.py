"""`appliance serve`: the API under Granian, HTTPS by default."""

from __future__ import annotations

import ipaddress
import os
import shutil
import sys
from pathlib import Path

from appliance.cli.errors import CliError
from appliance.cli.secrets_input import read_secret_file
from appliance.cli.store_commands import initialised_data_dir
from appliance.metrics import MULTIPROCESS_ENV
from appliance.store import keys
from appliance.store.connection import WrongKeyError, open_encrypted


def register(subparsers) -> None:
    serve = subparsers.add_parser("serve", help="serve the web UI and REST API")
    serve.add_argument("--data-dir", required=True)
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8443)
    serve.add_argument("--workers", type=int, default=2)
    serve.add_argument("--http", action="store_true", help="plain HTTP; only allowed on a loopback address")
    serve.add_argument("--passphrase-file", help="unseal at start instead of waiting for POST /system/unseal")
    serve.add_argument("--access-log", action="store_true", help="log every request (client addresses included)")
    serve.set_defaults(run=run_serve)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# A worker that does not stop within this after SIGTERM (a long request, a stuck start-up) is killed, so the
# service always stops within systemd's stop timeout (90 s by default).
WORKERS_KILL_TIMEOUT_SECONDS = 15


def granian_command(args, data_dir) -> list[str]:
    command = [
        sys.executable,
        "-m",
        "appliance.server.granian_main",
        "--interface",
        "asgi",
        "--factory",
        "appliance.server.app:from_environment",
        "--host",
        args.host,
        "--port",
        str(args.port),
        "--workers",
        str(args.workers),
        "--respawn-failed-workers",
        "--workers-kill-timeout",
        str(WORKERS_KILL_TIMEOUT_SECONDS),
        "--pid-file",
        str(data_dir.runtime / "granian.pid"),
        "--access-log" if args.access_log else "--no-access-log",
    ]
    if not args.http:
        command += ["--ssl-certificate", str(data_dir.certificate), "--ssl-keyfile", str(data_dir.certificate_key)]
    return command


def fresh_metrics_directory(data_dir) -> Path:
    """Where Granian's workers keep their request counts for /metrics (tmpfs), emptied: a restart of the API
    starts its counters at zero, which Prometheus reads as a counter reset."""
    directory = data_dir.runtime / "metrics"
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(mode=0o700)
    return directory


def run_serve(args) -> int:
    data_dir = initialised_data_dir(args.data_dir)
    if args.http and not is_loopback(args.host):
        raise CliError(f"--http is only allowed on a loopback address, not {args.host}: serve HTTPS instead")
    if not 0 < args.port < 65536:
        raise CliError(f"--port {args.port} is not a TCP port")
    if args.passphrase_file and keys.key_mode(data_dir) == "passphrase":
        key = keys.key_from_passphrase(data_dir, read_secret_file(args.passphrase_file, "passphrase"))
        try:
            open_encrypted(data_dir.database, key, readonly=True).close()
        except WrongKeyError as error:
            raise CliError("wrong passphrase") from error
        keys.remember_unsealed_key(data_dir, key, holder_pid=os.getpid())  # Granian's main process, after exec
    data_dir.runtime.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.umask(0o077)
    # The workers bind an unsealed key to this process: it is valid while this server runs, and no longer.
    environment = dict(
        os.environ,
        NETSENX_DATA_DIR=str(data_dir.root),
        **{keys.SERVER_PID_ENV: str(os.getpid()), MULTIPROCESS_ENV: str(fresh_metrics_directory(data_dir))},
    )
    command = granian_command(args, data_dir)
    os.execve(command[0], command, environment)
