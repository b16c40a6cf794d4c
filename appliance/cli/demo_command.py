"""`appliance demo`: a ready box on this machine, watching the simulator's office network."""

from __future__ import annotations

import secrets
import time

from appliance.cli.errors import CliError
from appliance.demo import DEMO_LEARNING_S, DEMO_SCENARIO, DEMO_SEED, DEMO_SEGMENT_S, DEMO_SPEED
from appliance.store import lifecycle
from appliance.store.data_dir import DataDirectory, write_private_file

DEMO_ADMIN = "admin"


def register(subparsers) -> None:
    demo = subparsers.add_parser("demo", help="the whole box on a simulated office network (API + UI + engine)")
    demo.add_argument("--data-dir", default="var/demo")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8443)
    demo.add_argument("--scenario", default=DEMO_SCENARIO, help="simulator scenario (`appliance simulate --list`)")
    demo.add_argument("--seed", type=int, default=DEMO_SEED)
    demo.add_argument("--duration", type=float, default=DEMO_SEGMENT_S,
                      help="seconds of simulated traffic per segment (each segment is new traffic of the same office)")
    demo.add_argument("--speed", type=float, default=DEMO_SPEED,
                      help="replay speed factor of the new traffic (default 1: as recorded; faster compresses "
                           "time, so a one-minute poll looks like a faster rhythm to the rules)")
    demo.add_argument("--learning", type=float, default=DEMO_LEARNING_S,
                      help="seconds of the office's ordinary history the baseline learns from, read before the "
                           "replay starts (0: none; NEW_DEVICE, ANOMALOUS_PAYLOAD and new lateral movement then "
                           "stay quiet)")
    demo.add_argument("--loops", type=int, help="stop after this many segments (default: never)")
    demo.set_defaults(run=run_demo)


def initialise_demo(data_dir: DataDirectory) -> str:
    """Create the demo box once; the admin password is kept beside it (owner-readable only)."""
    from appliance.auth import users
    from appliance.server.tls import create_self_signed_certificate
    from appliance.store.database import Store

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


def trust_scenario_indicators(data_dir: DataDirectory, indicators) -> None:
    """Import the indicator list the scenario's threat-intel attack matches, as an admin would
    (`appliance intel import`)."""
    from appliance.intel.imports import import_file
    from appliance.store import keys
    from appliance.store.database import Store

    if indicators is None:
        return
    store = Store(data_dir, keys.load_key(data_dir))
    try:
        import_file(store, "simulator indicators", indicators.read_bytes(), time.time(), "list")
    finally:
        store.close()


def run_demo(args) -> int:
    from appliance.demo import box
    from appliance.demo.network import DemoNetworkError
    from appliance.simulate.scenarios import SCENARIOS

    if args.scenario not in SCENARIOS:
        raise CliError(f"unknown scenario {args.scenario!r}; `appliance simulate --list` names them")
    data_dir = DataDirectory.at(args.data_dir)
    password = initialise_demo(data_dir)

    def announce(url: str, how: str) -> None:
        print(f"NetSenX demo box is up ({how}, scenario {args.scenario!r}, new traffic replayed at {args.speed:g}x):")
        print(f"  web UI   {url}/   (self-signed certificate: {data_dir.certificate})")
        print(f"  API      {url}/api/v1/   OpenAPI: {url}/api/v1/schema")
        print(f"  log in as {DEMO_ADMIN!r} with password {password!r} (also in {data_dir.root}/admin-password.txt)")
        first = f"the baseline first learns {args.learning / 60:.0f} minutes of ordinary office traffic, then "
        first *= bool(args.learning)
        print(f"  {first}alerts appear as the attacks happen; Ctrl-C stops the demo", flush=True)

    try:
        trust_scenario_indicators(data_dir, box.scenario_indicators(data_dir, args.scenario))
        return box.run_demo_box(data_dir, host=args.host, port=args.port, scenario=args.scenario, seed=args.seed,
                                duration=args.duration, speed=args.speed, loops=args.loops, learning=args.learning,
                                on_ready=announce)
    except (RuntimeError, DemoNetworkError) as error:
        raise CliError(str(error)) from error
