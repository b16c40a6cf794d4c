"""`appliance notify`: the notifier service; `appliance firewall-egress`: its list of destinations into nft."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from appliance.cli.engine_commands import open_store
from appliance.cli.errors import CliError
from appliance.store.data_dir import DataDirectory


def register(subparsers) -> None:
    notify = subparsers.add_parser(
        "notify",
        help="the notifier service: notifications, digests, retries, the SIEM export to syslog, threat-intel feeds")
    notify.add_argument("--data-dir", required=True)
    notify.add_argument("--poll-interval", type=float, default=1.0, help="seconds between rounds when idle")
    notify.add_argument("--once", action="store_true", help="do one round (route, digest, deliver), then exit")
    notify.set_defaults(run=run_notify)

    egress = subparsers.add_parser(
        "firewall-egress", help="the box image's firewall opens exactly the configured destinations: the "
        "notifier's list into the nft egress sets (root)")
    egress.add_argument("--from", dest="source", required=True, help="the notifier's egress-firewall.json")
    egress.add_argument("--apply", action="store_true", help="load it with `nft -f -` (root); else print the script")
    egress.set_defaults(run=run_firewall_egress)


# Notifications may take a second longer; detection may not: the notifier yields the CPU to the engine.
NICENESS = 10


def run_notify(args) -> int:
    from appliance.egress.firewall import FirewallStep
    from appliance.intel.feeds import FeedStep
    from appliance.notifications.notifier import AlreadyRunning, Notifier, single_instance
    from appliance.siem.stream import ExportStep

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    data_dir = DataDirectory.at(args.data_dir)
    if not data_dir.is_initialised():
        raise CliError(f"{data_dir.root} holds no NetSenX database: run `appliance init` first")
    os.nice(NICENESS)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        with single_instance(data_dir.runtime):
            store = wait_until_unsealed(data_dir, args, stop)
            if store is None:
                return 0
            steps = [ExportStep(store), FirewallStep(store, data_dir.runtime), FeedStep(store)]
            notifier = Notifier(store, extra_steps=steps)
            logging.getLogger("netsenx.notifier").info("notifier running for %s", data_dir.root)
            try:
                if args.once:
                    print(notifier.run_once())
                else:
                    notifier.run(args.poll_interval, stop)
            finally:
                notifier.close()
                store.close()
    except AlreadyRunning as error:
        raise CliError(str(error)) from error
    except KeyboardInterrupt:
        pass
    return 0


def wait_until_unsealed(data_dir: DataDirectory, args, stop: threading.Event):
    while not stop.is_set():
        try:
            return open_store(data_dir)
        except CliError:
            if args.once:
                raise
            stop.wait(max(args.poll_interval, 1.0))  # sealed: an admin unseals through the API
    return None


def run_firewall_egress(args) -> int:
    from appliance.egress.firewall import nft_script, read

    try:
        script = nft_script(read(Path(args.source)))
    except ValueError as error:
        raise CliError(f"refusing the egress list: {error}") from error
    if not args.apply:
        sys.stdout.write(script)
        return 0
    result = subprocess.run(["nft", "-f", "-"], input=script, text=True, capture_output=True, timeout=30, check=False)
    if result.returncode != 0:
        raise CliError(f"nft refused the egress sets: {result.stderr.strip()}")
    print(f"egress sets loaded at {time.strftime('%Y-%m-%d %H:%M:%S')}")
    return 0
